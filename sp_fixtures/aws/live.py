"""Apply a scenario's AWS world to a live account, and destroy what fedharness made there.

Live mode exists to check the harness against AWS itself, so it guards the account:

- it refuses an IdP signing certificate shipped in this repository (its private key is public, so
  anyone could sign assertions the roles would accept), whether passed as a fingerprint or found
  in a provider's metadata;
- it writes only into the account the credentials belong to, and only if the scenario declares
  it; it never takes over a provider or role it did not create (tags tell);
- ``destroy`` removes only resources tagged ``fedharness:managed=true`` and
  ``fedharness:scenario=<name>``; a provider whose tags the endpoint cannot report (moto does not
  store SAML provider tags) is kept and reported, never guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.parsers

from idp.saml.sample_keys import SAMPLE_CERT_SHA256, is_sample_certificate, normalize_fingerprint

from .account import (
    AccountMismatchError,
    AccountSpec,
    AwsWorld,
    InvalidMetadataError,
    ResourceConflictError,
    RoleSpec,
    SampleKeyRefusedError,
    is_managed_by,
    managed_tags,
    provider_arn,
    role_arn,
)
from .iam_view import DEFAULT_REGION, IamClient
from .provision import (
    ProviderMaterial,
    aws_call,
    call_error,
    create_provider,
    create_role,
    delete_role,
    metadata_certificates,
    provider_material,
    sync_role_policies,
    tag_list,
)

SANDBOX_WARNING = (
    "Roles that trust a mock IdP can be assumed by anyone holding its signing key: keep them in a "
    "sandbox account, never in one with real data or access."
)
TAGS_UNREADABLE = "its tags cannot be read here (moto does not store SAML provider tags)"


@dataclass(frozen=True)
class AppliedWorld:
    """What :func:`apply` did in the account the credentials belong to."""

    account_id: str
    created: tuple[str, ...]
    updated: tuple[str, ...]
    skipped_accounts: tuple[str, ...]
    """Accounts of the scenario left alone: the credentials are for another account."""
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class KeptResource:
    """A resource :func:`destroy` left in place although it may be the scenario's, and why."""

    arn: str
    reason: str


@dataclass(frozen=True)
class DestroyedWorld:
    """What :func:`destroy` removed, and what it kept for want of proof it was ours."""

    account_id: str
    removed: tuple[str, ...]
    kept: tuple[KeptResource, ...]


def refuse_sample_keys(
    signing_cert_fingerprints: Iterable[str], metadata_documents: Mapping[str, str]
) -> None:
    """Raise SampleKeyRefusedError if a repository sample certificate would be trusted."""
    for fingerprint in signing_cert_fingerprints:
        if normalize_fingerprint(fingerprint) in SAMPLE_CERT_SHA256:
            raise SampleKeyRefusedError(
                "the IdP signs with a sample certificate shipped in fedharness (its private key "
                "is public): generate your own with `fedharness certs generate` for live AWS"
            )
    for source, metadata in metadata_documents.items():
        for certificate in metadata_certificates(metadata):
            try:
                sample = is_sample_certificate(certificate)
            except ValueError as exc:
                raise InvalidMetadataError(f"{source}: bad X509Certificate: {exc}") from None
            if sample:
                raise SampleKeyRefusedError(
                    f"{source}: the metadata trusts a sample certificate shipped in fedharness "
                    "(its private key is public); use your own key pair for live AWS"
                )


def apply(
    world: AwsWorld,
    session: Any,
    *,
    scenario_name: str,
    idp_metadata: bytes,
    base_dir: Path,
    signing_cert_fingerprints: Iterable[str],
    endpoint_url: str | None = None,
) -> AppliedWorld:
    """Create or update the scenario's providers and roles in the credentials' account.

    Nothing is written until every check passed: sample keys, the account, and that no provider
    or role of the same name exists unless this scenario made it.
    """
    materials = {
        (account_id, name): provider_material(spec, idp_metadata=idp_metadata, base_dir=base_dir)
        for account_id, account in world.accounts.items()
        for name, spec in account.saml_providers.items()
    }
    refuse_sample_keys(
        signing_cert_fingerprints,
        {
            provider_arn(account_id, name): material.metadata
            for (account_id, name), material in materials.items()
        },
    )
    tags = managed_tags(scenario_name)
    iam, account_id = _clients(session, endpoint_url)
    account = _declared(world, account_id)
    existing_providers, existing_roles = _preflight(iam, world, account_id, scenario_name)
    created: list[str] = []
    updated: list[str] = []
    warnings = [SANDBOX_WARNING]
    for name, spec in account.saml_providers.items():
        material = materials[(account_id, name)]
        arn = provider_arn(account_id, name)
        if arn in existing_providers:
            _update_provider(
                iam,
                arn,
                material,
                spec.encryption.mode if spec.encryption else None,
                {**spec.tags, **tags},
            )
            updated.append(arn)
        else:
            created.append(create_provider(iam, account_id, name, spec, material, tags))
        if spec.uuid is not None:
            warnings.append(_uuid_warning(iam, arn, spec.uuid))
    for name, role in account.roles.items():
        if name in existing_roles:
            _update_role(iam, account_id, name, role_tags={**role.tags, **tags}, spec=role)
            updated.append(role_arn(account_id, name, role.path))
        else:
            created.append(create_role(iam, account_id, name, role, tags))
    skipped = tuple(other for other in world.accounts if other != account_id)
    return AppliedWorld(account_id, tuple(created), tuple(updated), skipped, tuple(warnings))


def _uuid_warning(iam: IamClient, arn: str, wanted: str) -> str:
    """Say that AWS, not the scenario, chooses a provider's SAMLProviderUUID."""
    with aws_call(f"get SAML provider {arn}"):
        actual = iam.get_saml_provider(SAMLProviderArn=arn).get("SAMLProviderUUID")
    if actual == wanted:
        return f"{arn}: SAMLProviderUUID is {actual}, as the scenario says"
    return (
        f"{arn}: AWS assigns the SAMLProviderUUID ({actual or 'not returned'}); the scenario's "
        f"uuid {wanted} is ignored live, so an IdP posting to .../saml/acs/{wanted} is refused: "
        f"use .../saml/acs/{actual}"
    )


def destroy(
    world: AwsWorld, session: Any, *, scenario_name: str, endpoint_url: str | None = None
) -> DestroyedWorld:
    """Remove the roles and providers tagged as this scenario's from the credentials' account."""
    iam, account_id = _clients(session, endpoint_url)
    account = _declared(world, account_id)
    removed: list[str] = []
    kept: list[KeptResource] = []
    for role in _list(iam, "list_roles", "Roles"):
        if is_managed_by(_role_tags(iam, role["RoleName"]), scenario_name):
            delete_role(iam, role["RoleName"])
            removed.append(role["Arn"])
    for provider in _list(iam, "list_saml_providers", "SAMLProviderList"):
        arn = provider["Arn"]
        tags = provider_tags(iam, arn)
        if tags is None:
            if arn.rsplit("/", 1)[-1] in account.saml_providers:
                kept.append(KeptResource(arn, TAGS_UNREADABLE))
        elif is_managed_by(tags, scenario_name):
            with aws_call(f"delete SAML provider {arn}"):
                iam.delete_saml_provider(SAMLProviderArn=arn)
            removed.append(arn)
    return DestroyedWorld(account_id, tuple(removed), tuple(kept))


def provider_tags(iam: IamClient, arn: str) -> dict[str, str] | None:
    """Return a SAML provider's tags, or None when the endpoint cannot list them (moto)."""
    tags: dict[str, str] = {}
    request: dict[str, str] = {"SAMLProviderArn": arn}
    try:
        while True:
            page = iam.list_saml_provider_tags(**request)
            tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
            if not page.get("IsTruncated"):
                return tags
            request["Marker"] = page["Marker"]
    except (botocore.parsers.ResponseParserError, NotImplementedError):
        return None  # moto: HTTP 500 page in server mode, NotImplementedError in-process
    except botocore.exceptions.ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or exc.response.get("Error", {}).get("Code") == "NotImplemented":
            return None
        raise call_error(f"list tags of SAML provider {arn}", exc) from None


def _clients(session: Any, endpoint_url: str | None) -> tuple[IamClient, str]:
    region = session.region_name or DEFAULT_REGION
    with aws_call("find the account of the credentials (sts get-caller-identity)"):
        iam = session.client("iam", region_name=region, endpoint_url=endpoint_url)
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url)
        account_id = str(sts.get_caller_identity()["Account"])
    return iam, account_id


def _declared(world: AwsWorld, account_id: str) -> AccountSpec:
    if account_id not in world.accounts:
        declared = ", ".join(world.accounts) or "none"
        raise AccountMismatchError(
            f"the credentials are for account {account_id}, which the scenario does not "
            f"declare (declared: {declared})"
        )
    return world.accounts[account_id]


def _preflight(
    iam: IamClient, world: AwsWorld, account_id: str, scenario_name: str
) -> tuple[set[str], set[str]]:
    """Return the declared providers (ARNs) and roles (names) that exist and are ours.

    Raises ResourceConflictError naming every one that exists but is not this scenario's.
    """
    account = world.accounts[account_id]
    conflicts: list[str] = []
    listed = {p["Arn"] for p in _list(iam, "list_saml_providers", "SAMLProviderList")}
    providers: set[str] = set()
    for name in account.saml_providers:
        arn = provider_arn(account_id, name)
        if arn not in listed:
            continue
        tags = provider_tags(iam, arn)
        if tags is None:
            conflicts.append(f"SAML provider {name} exists and {TAGS_UNREADABLE}")
        elif not is_managed_by(tags, scenario_name):
            conflicts.append(f"SAML provider {name} exists and is not managed by this scenario")
        else:
            providers.add(arn)
    roles: set[str] = set()
    for name, spec in account.roles.items():
        found = _get_role(iam, name)
        if found is None:
            continue
        tags = {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}
        if not is_managed_by(tags, scenario_name):
            conflicts.append(f"role {name} exists and is not managed by this scenario")
        elif found["Path"] != spec.path:
            conflicts.append(f"role {name} exists with path {found['Path']}; destroy it first")
        else:
            roles.add(name)
    if conflicts:
        raise ResourceConflictError(f"account {account_id}: " + "; ".join(conflicts))
    return providers, roles


def _update_provider(
    iam: IamClient,
    arn: str,
    material: ProviderMaterial,
    mode: str | None,
    tags: Mapping[str, str],
) -> None:
    """Refresh metadata, encryption mode and tags; private keys are uploaded only on create."""
    request: dict[str, str] = {"SAMLProviderArn": arn, "SAMLMetadataDocument": material.metadata}
    if mode is not None:
        request["AssertionEncryptionMode"] = mode
    with aws_call(f"update SAML provider {arn}"):
        iam.update_saml_provider(**request)
        iam.tag_saml_provider(SAMLProviderArn=arn, Tags=tag_list(tags))


def _update_role(
    iam: IamClient, account_id: str, name: str, *, role_tags: Mapping[str, str], spec: RoleSpec
) -> None:
    with aws_call(f"update role {name}"):
        iam.update_assume_role_policy(
            RoleName=name, PolicyDocument=spec.trust_policy_json(account_id)
        )
        iam.update_role(RoleName=name, MaxSessionDuration=spec.max_session_duration)
        iam.tag_role(RoleName=name, Tags=tag_list(role_tags))
    sync_role_policies(iam, name, spec)


def _get_role(iam: IamClient, name: str) -> dict[str, Any] | None:
    try:
        role: dict[str, Any] = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        raise call_error(f"get role {name}", exc) from None
    return role


def _role_tags(iam: IamClient, name: str) -> dict[str, str]:
    with aws_call(f"list tags of role {name}"):
        pages = iam.get_paginator("list_role_tags").paginate(RoleName=name)
        return {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}


def _list(iam: IamClient, operation: str, key: str) -> list[dict[str, Any]]:
    with aws_call(operation.replace("_", " ")):
        if iam.can_paginate(operation):
            return [item for page in iam.get_paginator(operation).paginate() for item in page[key]]
        return list(getattr(iam, operation)()[key])
