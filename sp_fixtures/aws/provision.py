"""Create a scenario's AWS world through IAM calls: providers, roles, policies, tags.

:func:`provision` fills moto's in-process mock (one IAM client per account, see
:func:`~sp_fixtures.aws.iam_view.moto_iam_client_factory`) and records in a
:class:`~sp_fixtures.aws.iam_view.ProviderExtras` what moto drops. The live path
(:mod:`sp_fixtures.aws.live`) reuses the same building blocks against real AWS.
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
        return AwsCallError(f"{what}: {error.get('Code', 'Error')}: {error.get('Message', exc)}")
    return AwsCallError(f"{what}: {exc}")


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


def sync_role_policies(iam: IamClient, name: str, spec: RoleSpec, *, fresh: bool = False) -> None:
    """Make a role's managed and inline policies exactly those of ``spec``."""
    attached = set() if fresh else set(attached_policies(iam, name))
    inline = set() if fresh else set(inline_policy_names(iam, name))
    for policy in spec.policies:
        if policy not in attached:
            with aws_call(f"attach {policy} to role {name}"):
                iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    for policy in attached - set(spec.policies):
        with aws_call(f"detach {policy} from role {name}"):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy)
    for policy_name, document in spec.inline_policies.items():
        with aws_call(f"put inline policy {policy_name} on role {name}"):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
    for policy_name in inline - set(spec.inline_policies):
        with aws_call(f"delete inline policy {policy_name} from role {name}"):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
