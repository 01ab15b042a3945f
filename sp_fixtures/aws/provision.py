"""Create a scenario's AWS world through IAM calls: providers, roles, policies, tags.

:func:`provision` fills moto's in-process mock (one IAM client per account, see
:func:`~sp_fixtures.aws.iam_view.moto_iam_client_factory`) and records in a
:class:`~sp_fixtures.aws.iam_view.ProviderExtras` what moto drops. :func:`reconcile` brings an
IAM that already holds some of it, or another version of it (``fedharness sts serve``), to the
same world and says what it changed. The live path (:mod:`sp_fixtures.aws.live`) reuses the same
building blocks against real AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import botocore.exceptions
import botocore.parsers
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from idp.saml.constants import NS, qname
from idp.saml.metadata import signing_certificates
from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from sp_fixtures.xmldsig import MAX_CERTIFICATES, MetadataError, check_certificate

from .account import (
    AccountSpec,
    AwsCallError,
    AwsWorld,
    InvalidMetadataError,
    MetadataCertificateError,
    ResourceFileError,
    RoleSpec,
    SamlProviderSpec,
    TooManyMetadataKeysError,
    UnknownManagedPolicyError,
    managed_tags,
    new_provider_uuid,
    provider_arn,
    role_arn,
)
from .iam_view import (
    PROVIDER_UUID_HEADER,
    IamClient,
    MotoIam,
    ProviderExtra,
    ProviderExtras,
    attached_policies,
    check_account,
    ensure_moto_managed_policy,
    inline_policy_names,
    moto_is_active,
)

BOTOCORE_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    botocore.parsers.ResponseParserError,  # an HTML error page (moto server's HTTP 500)
)
"""What a failed boto3 call raises."""
FROM_IDP = "from-idp"
DEFAULT_SCENARIO_NAME = "fedharness"
_AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
_METADATA_ROOTS = (qname(NS.MD, "EntityDescriptor"), qname(NS.MD, "EntitiesDescriptor"))


@dataclass(frozen=True)
class ProviderMaterial:
    """What a provider is created from once files are read: metadata text and private keys."""

    metadata: str
    private_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ProvisionedWorld:
    """What :func:`provision` made: ARNs of providers and roles, and the extras moto drops."""

    saml_providers: tuple[str, ...]
    roles: tuple[str, ...]
    extras: ProviderExtras

    def iam(self) -> MotoIam:
        """Return an IamView over moto and this world's extras."""
        return MotoIam(self.extras)


def provision(
    world: AwsWorld,
    *,
    iam_client_factory: Callable[[str], IamClient],
    idp_metadata: bytes,
    base_dir: Path,
    extras: ProviderExtras | None = None,
    scenario_name: str = DEFAULT_SCENARIO_NAME,
) -> ProvisionedWorld:
    """Create every account's providers and roles in moto; return what was made.

    ``iam_client_factory`` maps an account id to an IAM client whose calls land in that account
    (``moto_iam_client_factory()``). Every resource is tagged ``fedharness:managed=true`` and
    ``fedharness:scenario=<scenario_name>``. Every provider gets its SAMLProviderUUID: the
    scenario's ``uuid``, else a random one, sent to ``sts serve`` in the
    ``x-fedharness-saml-provider-uuid`` header. AWS managed policies the roles attach are loaded
    from moto's copy when moto is active in-process.
    """
    extras = extras if extras is not None else ProviderExtras()
    tags = managed_tags(scenario_name)
    providers: list[str] = []
    roles: list[str] = []
    for account_id, account in world.accounts.items():
        iam = iam_client_factory(account_id)
        for name, spec in account.saml_providers.items():
            material = provider_material(spec, idp_metadata=idp_metadata, base_dir=base_dir)
            uuid = spec.uuid or new_provider_uuid()
            arn = create_provider(iam, account_id, name, spec, material, tags, uuid=uuid)
            extras.record(
                arn,
                ProviderExtra(
                    encryption_mode=spec.encryption.mode if spec.encryption else None,
                    private_keys=material.private_keys,
                    tags={**spec.tags, **tags},
                    uuid=uuid,
                ),
            )
            providers.append(arn)
        if moto_is_active():
            _load_moto_managed_policies(account_id, account)
        for name, role in account.roles.items():
            roles.append(create_role(iam, account_id, name, role, tags))
    return ProvisionedWorld(tuple(providers), tuple(roles), extras)


def _load_moto_managed_policies(account_id: str, account: AccountSpec) -> None:
    for role_name, role in account.roles.items():
        for policy in role.policies:
            if policy.startswith(_AWS_MANAGED_POLICY_PREFIX) and not ensure_moto_managed_policy(
                account_id, policy
            ):
                raise UnknownManagedPolicyError(
                    f"role {role_name} in {account_id}: {policy} is not an AWS managed policy "
                    "moto knows"
                )


# --- reconcile: an idempotent apply ------------------------------------------------------------


@dataclass(frozen=True)
class ReconciledWorld:
    """What :func:`reconcile` left in place: the scenario's providers and roles (ARNs), and the
    changes it made to get there, one line each (none when the endpoint already matched)."""

    saml_providers: tuple[str, ...]
    roles: tuple[str, ...]
    changes: tuple[str, ...]


def reconcile(
    world: AwsWorld,
    *,
    iam_client_factory: Callable[[str], IamClient],
    idp_metadata: bytes,
    base_dir: Path,
    scenario_name: str = DEFAULT_SCENARIO_NAME,
) -> ReconciledWorld:
    """Make an IAM endpoint hold every provider and role of ``world`` as ``world`` defines them.

    An idempotent apply for ``sts serve``, whose IAM may hold an earlier version of the scenario,
    another scenario's world, or part of one. What is missing is made as :func:`provision`
    makes it (:func:`create_provider`, :func:`create_role`); what exists is brought to the
    definition: a provider's metadata, private keys, AssertionEncryptionMode and tags; a role's
    trust policy, MaxSessionDuration, tags, managed and inline policies
    (:func:`sync_role_policies`). IAM cannot change a role's path nor a provider's
    SAMLProviderUUID, nor unset its AssertionEncryptionMode: such a resource is deleted and made
    again (a provider keeps its SAMLProviderUUID unless the scenario fixes another). Providers
    and roles the scenario does not name are never touched.

    Every file is read before the first call. Private keys are told apart by the KeyId
    ``sts serve`` gives them (:func:`~sp_fixtures.aws.saml_provider_calls.private_key_id`);
    live AWS's KeyIds are opaque, so use :func:`sp_fixtures.aws.live.apply` there.
    """
    tags = managed_tags(scenario_name)
    materials = {
        (account_id, name): provider_material(spec, idp_metadata=idp_metadata, base_dir=base_dir)
        for account_id, account in world.accounts.items()
        for name, spec in account.saml_providers.items()
    }
    providers: list[str] = []
    roles: list[str] = []
    changes: list[str] = []
    for account_id, account in world.accounts.items():
        iam = iam_client_factory(account_id)
        for name, spec in account.saml_providers.items():
            material = materials[(account_id, name)]
            changes += _reconcile_provider(iam, account_id, name, spec, material, tags)
            providers.append(provider_arn(account_id, name))
        if moto_is_active():
            _load_moto_managed_policies(account_id, account)
        for name, role in account.roles.items():
            changes += _reconcile_role(iam, account_id, name, role, tags)
            roles.append(role_arn(account_id, name, role.path))
    return ReconciledWorld(tuple(providers), tuple(roles), tuple(changes))


def _reconcile_provider(
    iam: IamClient,
    account_id: str,
    name: str,
    spec: SamlProviderSpec,
    material: ProviderMaterial,
    tags: Mapping[str, str],
) -> list[str]:
    arn = provider_arn(account_id, name)
    current = _saml_provider(iam, arn)
    if current is None:
        try:
            created = create_provider(iam, account_id, name, spec, material, tags, uuid=spec.uuid)
        except AwsCallError:
            current = _saml_provider(iam, arn)  # made meanwhile (another run)?
            if current is None:
                raise
        else:
            return [f"created SAML provider {created}"]
    reason = _provider_replacement(spec, current)
    if reason is not None:
        with aws_call(f"delete SAML provider {arn} to make it again"):
            iam.delete_saml_provider(SAMLProviderArn=arn)
        uuid = spec.uuid or current.get("SAMLProviderUUID")
        create_provider(iam, account_id, name, spec, material, tags, uuid=uuid)
        return [f"replaced SAML provider {arn}: {reason}"]
    return [
        f"updated SAML provider {arn}: {change}"
        for change in _sync_provider(iam, arn, spec, material, tags, current)
    ]


def _provider_replacement(spec: SamlProviderSpec, current: Mapping[str, Any]) -> str | None:
    """Return why a provider must be deleted and made again (no update can fix it), or None."""
    uuid = current.get("SAMLProviderUUID")
    if spec.uuid is not None and uuid != spec.uuid:
        return f"SAMLProviderUUID {uuid} → {spec.uuid} (IAM cannot change it)"
    mode = current.get("AssertionEncryptionMode")
    if spec.encryption is None and mode is not None:
        return f"AssertionEncryptionMode {mode} → none (IAM cannot unset it)"
    return None


def _sync_provider(
    iam: IamClient,
    arn: str,
    spec: SamlProviderSpec,
    material: ProviderMaterial,
    tags: Mapping[str, str],
    current: Mapping[str, Any],
) -> list[str]:
    """Bring an existing provider's metadata, keys, encryption mode and tags to ``spec``."""
    from .saml_provider_calls import MAX_PRIVATE_KEYS, private_key_id  # it imports this module

    changes: list[str] = []

    def update(change: str, **request: str) -> None:
        with aws_call(f"update SAML provider {arn} ({change})"):
            iam.update_saml_provider(
                SAMLProviderArn=arn, SAMLMetadataDocument=material.metadata, **request
            )
        changes.append(change)

    if current.get("SAMLMetadataDocument") != material.metadata:
        update("metadata")
    held = [str(key["KeyId"]) for key in current.get("PrivateKeyList", [])]
    wanted = {private_key_id(pem): pem for pem in material.private_keys}
    unwanted = [key_id for key_id in held if key_id not in wanted]
    for key_id, pem in wanted.items():
        if key_id in held:
            continue
        if len(held) >= MAX_PRIVATE_KEYS and unwanted:  # make room, one key per call
            gone = unwanted.pop(0)
            update(f"removed private key {gone}", RemovePrivateKey=gone)
            held.remove(gone)
        update(f"added private key {key_id}", AddPrivateKey=pem.decode("ascii"))
        held.append(key_id)
    for gone in unwanted:
        update(f"removed private key {gone}", RemovePrivateKey=gone)
    mode = spec.encryption.mode if spec.encryption else None
    held_mode = current.get("AssertionEncryptionMode")
    if mode is not None and held_mode != mode:
        update(
            f"AssertionEncryptionMode {held_mode or 'none'} → {mode}", AssertionEncryptionMode=mode
        )
    changes += _sync_tags(
        f"SAML provider {arn}",
        current.get("Tags", []),
        {**spec.tags, **tags},
        tag=lambda new: iam.tag_saml_provider(SAMLProviderArn=arn, Tags=tag_list(new)),
        untag=lambda keys: iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=keys),
    )
    return changes


def _reconcile_role(
    iam: IamClient, account_id: str, name: str, spec: RoleSpec, tags: Mapping[str, str]
) -> list[str]:
    current = _role(iam, name)
    if current is None:
        try:
            created = create_role(iam, account_id, name, spec, tags)
        except AwsCallError:
            current = _role(iam, name)  # made meanwhile, or made before a later call failed?
            if current is None:
                raise
        else:
            return [f"created role {created}"]
    arn = str(current["Arn"])
    if current.get("Path", "/") != spec.path:
        delete_role(iam, name)
        created = create_role(iam, account_id, name, spec, tags)
        return [
            f"replaced role {arn} with {created}: path {current.get('Path')} → {spec.path} "
            "(IAM cannot change a role's path)"
        ]
    changes: list[str] = []
    trust = spec.trust_policy_json(account_id)
    if policy_document(current.get("AssumeRolePolicyDocument")) != json.loads(trust):
        with aws_call(f"update the trust policy of role {name}"):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
        changes.append("trust policy replaced by the scenario's")
    held = int(current.get("MaxSessionDuration", 3600))
    if held != spec.max_session_duration:
        with aws_call(f"update the MaxSessionDuration of role {name}"):
            iam.update_role(RoleName=name, MaxSessionDuration=spec.max_session_duration)
        changes.append(f"MaxSessionDuration {held} → {spec.max_session_duration}")
    changes += _sync_tags(
        f"role {name}",
        current.get("Tags", []),
        {**spec.tags, **tags},
        tag=lambda new: iam.tag_role(RoleName=name, Tags=tag_list(new)),
        untag=lambda keys: iam.untag_role(RoleName=name, TagKeys=keys),
    )
    changes += sync_role_policies(iam, name, spec)
    return [f"updated role {arn}: {change}" for change in changes]


def _sync_tags(
    what: str,
    held: list[dict[str, str]],
    wanted: Mapping[str, str],
    *,
    tag: Callable[[dict[str, str]], object],
    untag: Callable[[list[str]], object],
) -> list[str]:
    """Make a resource's tags exactly ``wanted`` (one call each way); one line per tag changed."""
    current = {item["Key"]: item["Value"] for item in held}
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    extra = sorted(key for key in current if key not in wanted)
    if changed:
        with aws_call(f"tag {what}"):
            tag(changed)
    if extra:
        with aws_call(f"untag {what}"):
            untag(extra)
    return [
        *(
            f"tag {key}={value}" + (f" (was {current[key]})" if key in current else "")
            for key, value in changed.items()
        ),
        *(f"untagged {key} (was {current[key]})" for key in extra),
    ]


def delete_role(iam: IamClient, name: str) -> None:
    """Detach managed policies and delete inline ones, then the role (IAM's required order)."""
    with aws_call(f"delete role {name}"):
        for policy in attached_policies(iam, name):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy)
        for policy_name in inline_policy_names(iam, name):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)


def _saml_provider(iam: IamClient, arn: str) -> dict[str, Any] | None:
    return _unless_missing(
        f"get SAML provider {arn}", lambda: iam.get_saml_provider(SAMLProviderArn=arn)
    )


def _role(iam: IamClient, name: str) -> dict[str, Any] | None:
    found = _unless_missing(f"get role {name}", lambda: iam.get_role(RoleName=name))
    return None if found is None else dict(found["Role"])


def _unless_missing(what: str, call: Callable[[], Any]) -> dict[str, Any] | None:
    """Return ``call()``'s answer, or None when IAM answers NoSuchEntity."""
    try:
        return dict(call())
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        raise call_error(what, exc) from None
    except BOTOCORE_ERRORS as exc:
        raise call_error(what, exc) from None


# --- files ------------------------------------------------------------------------------------


def provider_material(
    spec: SamlProviderSpec, *, idp_metadata: bytes, base_dir: Path
) -> ProviderMaterial:
    """Read a provider's metadata (``from-idp`` or a file) and private keys (files)."""
    if spec.metadata == FROM_IDP:
        metadata = decode_metadata(idp_metadata, "the IdP's metadata")
    else:
        path = base_dir / spec.metadata
        metadata = decode_metadata(_read(path, "metadata"), str(path))
    names = spec.encryption.private_keys if spec.encryption else []
    return ProviderMaterial(metadata, tuple(_read_private_key(base_dir / name) for name in names))


def _read_private_key(path: Path) -> bytes:
    pem = _read(path, "private key")
    try:
        serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError) as exc:
        raise ResourceFileError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    return pem


def decode_metadata(raw: bytes, source: str) -> str:
    """Return metadata as text after the checks IAM makes on upload (aws-sts-saml.md §2.1, §4).

    UTF-8 without a BOM, XML with an EntityDescriptor (or EntitiesDescriptor) root, and signing
    certificates IAM takes: at most 10 (:class:`TooManyMetadataKeysError`), each RSA of at least
    1024 bits (:class:`MetadataCertificateError`).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raise InvalidMetadataError(f"{source}: starts with a byte-order mark; IAM refuses it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMetadataError(f"{source}: not UTF-8 ({exc.reason})") from None
    try:
        root = parse_xml(raw)
    except UnsafeXmlError as exc:
        raise InvalidMetadataError(f"{source}: could not parse metadata: {exc}") from None
    if root.tag not in _METADATA_ROOTS:
        raise InvalidMetadataError(
            f"{source}: could not parse metadata: the root is {root.tag}, not md:EntityDescriptor"
        )
    _check_signing_certificates(root, source)
    return text


def _check_signing_certificates(root: etree._Element, source: str) -> None:
    """Refuse more signing certificates than IAM keeps, and any it would not take."""
    encoded = signing_certificates(root)
    if len(encoded) > MAX_CERTIFICATES:
        raise TooManyMetadataKeysError(
            f"{source}: the metadata lists {len(encoded)} signing certificates; a SAML provider "
            f"holds at most {MAX_CERTIFICATES} keys"
        )
    for index, text in enumerate(encoded):
        try:
            der = base64.b64decode(text, validate=True)
            pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        except (binascii.Error, ValueError) as exc:
            raise MetadataCertificateError(
                f"{source}: signing certificate #{index + 1} is not a base64 DER "
                f"certificate ({exc})"
            ) from None
        try:
            check_certificate(pem, index)
        except MetadataError as exc:
            raise MetadataCertificateError(f"{source}: {exc.message}") from None


def metadata_certificates(metadata: str) -> list[str]:
    """Return the base64 DER certificates a metadata document lists (``ds:X509Certificate``)."""
    root = parse_xml(metadata)
    return [(node.text or "").strip() for node in root.iter(qname(NS.DS, "X509Certificate"))]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ResourceFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


# --- IAM calls ----------------------------------------------------------------------------------


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turn botocore failures inside the block into AwsCallError naming ``what``."""
    try:
        yield
    except BOTOCORE_ERRORS as exc:
        raise call_error(what, exc) from None


def call_error(what: str, exc: Exception) -> AwsCallError:
    """Return an AwsCallError for a failed botocore call, with AWS's code and message."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        failure = AwsCallError(f"{what}: {error.get('Code', 'Error')}: {error.get('Message', exc)}")
    else:
        failure = AwsCallError(f"{what}: {exc}")
    failure.cause = exc
    return failure


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Return tags in IAM's ``[{"Key": …, "Value": …}]`` form."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def create_provider(
    iam: IamClient,
    account_id: str,
    name: str,
    spec: SamlProviderSpec,
    material: ProviderMaterial,
    tags: Mapping[str, str],
    *,
    uuid: str | None = None,
) -> str:
    """Create a SAML provider (encryption and first key included) and return its ARN.

    ``uuid`` (moto only) fixes its SAMLProviderUUID in ``sts serve``: it travels in the
    ``x-fedharness-saml-provider-uuid`` header, which moto itself ignores.
    """
    request: dict[str, object] = {
        "Name": name,
        "SAMLMetadataDocument": material.metadata,
        "Tags": tag_list({**spec.tags, **tags}),
    }
    if spec.encryption is not None:
        request["AssertionEncryptionMode"] = spec.encryption.mode
    if material.private_keys:
        request["AddPrivateKey"] = material.private_keys[0].decode("ascii")
    with aws_call(f"create SAML provider {name} in {account_id}"), _uuid_header(iam, uuid):
        arn = str(iam.create_saml_provider(**request)["SAMLProviderArn"])
    check_account(arn, account_id)
    # One key per request: IAM takes AddPrivateKey once per call (aws-sts-saml.md §4).
    for key in material.private_keys[1:]:
        with aws_call(f"add a private key to {arn}"):
            iam.update_saml_provider(
                SAMLProviderArn=arn,
                SAMLMetadataDocument=material.metadata,
                AddPrivateKey=key.decode("ascii"),
            )
    return arn


@contextmanager
def _uuid_header(iam: IamClient, uuid: str | None) -> Iterator[None]:
    """Send ``uuid`` in the provider-uuid header with this client's CreateSAMLProvider calls."""
    if uuid is None:
        yield
        return

    def add_header(request: Any, **_: object) -> None:
        request.headers[PROVIDER_UUID_HEADER] = uuid

    event = "request-created.iam.CreateSAMLProvider"
    unique_id = f"fedharness-provider-uuid-{id(iam)}"
    iam.meta.events.register(event, add_header, unique_id=unique_id)
    try:
        yield
    finally:
        iam.meta.events.unregister(event, unique_id=unique_id)


def create_role(
    iam: IamClient, account_id: str, name: str, spec: RoleSpec, tags: Mapping[str, str]
) -> str:
    """Create a role with its trust policy, attach and put its policies; return its ARN."""
    with aws_call(f"create role {name} in {account_id}"):
        created = iam.create_role(
            RoleName=name,
            Path=spec.path,
            AssumeRolePolicyDocument=spec.trust_policy_json(account_id),
            MaxSessionDuration=spec.max_session_duration,
            Tags=tag_list({**spec.tags, **tags}),
        )
    arn = str(created["Role"]["Arn"])
    check_account(arn, account_id)
    sync_role_policies(iam, name, spec, fresh=True)
    return arn


def sync_role_policies(
    iam: IamClient, name: str, spec: RoleSpec, *, fresh: bool = False
) -> list[str]:
    """Make a role's managed and inline policies exactly those of ``spec``.

    Return one line per change made (``attached …``, ``detached …``, ``put inline policy …``,
    ``replaced inline policy …``, ``deleted inline policy …``); an inline policy whose document
    already matches is left as it is. ``fresh``: the role was just created, holds nothing yet.
    """
    attached = set() if fresh else set(attached_policies(iam, name))
    inline = set() if fresh else set(inline_policy_names(iam, name))
    changes: list[str] = []
    for policy in spec.policies:
        if policy not in attached:
            with aws_call(f"attach {policy} to role {name}"):
                iam.attach_role_policy(RoleName=name, PolicyArn=policy)
            changes.append(f"attached {policy}")
    for policy in sorted(attached - set(spec.policies)):
        with aws_call(f"detach {policy} from role {name}"):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy)
        changes.append(f"detached {policy}")
    for policy_name, document in spec.inline_policies.items():
        text = json.dumps(document)
        if policy_name in inline and _inline_policy(iam, name, policy_name) == json.loads(text):
            continue
        with aws_call(f"put inline policy {policy_name} on role {name}"):
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=text)
        verb = "replaced" if policy_name in inline else "put"
        changes.append(f"{verb} inline policy {policy_name}")
    for policy_name in sorted(inline - set(spec.inline_policies)):
        with aws_call(f"delete inline policy {policy_name} from role {name}"):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        changes.append(f"deleted inline policy {policy_name}")
    return changes


def _inline_policy(iam: IamClient, role_name: str, policy_name: str) -> object:
    with aws_call(f"get inline policy {policy_name} of role {role_name}"):
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)
    return policy_document(document["PolicyDocument"])


def policy_document(document: object) -> object:
    """Return a policy document IAM returned as a JSON value.

    botocore decodes IAM's URL-encoded policy documents into dicts; text is decoded here in case
    an endpoint or botocore version leaves it as it came.
    """
    if isinstance(document, str):
        try:
            return json.loads(document)
        except json.JSONDecodeError:
            return json.loads(unquote(document))
    return document
