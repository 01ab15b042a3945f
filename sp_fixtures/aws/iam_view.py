"""Read IAM state (SAML providers, roles) from moto's in-process backends or from live AWS.

The strict STS needs what AWS would read: provider metadata, encryption mode and keys, role trust
policy and MaxSessionDuration. moto silently drops a provider's ``AssertionEncryptionMode``,
``AddPrivateKey`` and tags (aws-sts-saml.md §5.1), so :class:`MotoIam` joins its backends with a
side table, :class:`ProviderExtras`, filled in by provisioning.

moto picks the account of a request from, in order: the ``MOTO_ACCOUNT_ID`` environment variable
(process-wide), an ``x-moto-account-id`` request header, then the access key (moto docs,
"Multi-account support"; ``moto/core/responses.py: get_current_account``).
:func:`moto_iam_client` uses the header, set on each request by a botocore event hook of that one
client: several accounts can be used side by side without touching the environment.
:func:`moto_request_account` reads a server request's account the same way.

AWS gives every SAML provider an id, ``SAMLProviderUUID`` (the ``<uuid>`` of the
``/saml/acs/<uuid>`` Recipient encrypted assertions need); moto gives none, so it is kept in the
extras too, and a provider the extras do not know gets one the first time it is read.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import boto3
import botocore.exceptions

from .account import (
    PROVIDER_ARN,
    ROLE_ARN,
    AccountMismatchError,
    IamView,
    MotoNotActiveError,
    RoleRecord,
    SamlProviderRecord,
    new_provider_uuid,
)

__all__ = [
    "IamView",
    "LiveIam",
    "MotoIam",
    "ProviderExtra",
    "ProviderExtras",
    "ensure_moto_managed_policy",
    "moto_iam_client",
    "moto_iam_client_factory",
    "moto_is_active",
    "moto_request_account",
    "moto_saml_provider_names",
    "pin_moto_account",
]

IamClient: TypeAlias = Any
"""A boto3 IAM client (boto3 is untyped here)."""

MOTO_ACCOUNT_HEADER = "x-moto-account-id"
PROVIDER_UUID_HEADER = "x-fedharness-saml-provider-uuid"
"""A CreateSAMLProvider request header (ours, not AWS's) that fixes the new provider's
SAMLProviderUUID in ``sts serve``, so a scenario's ``uuid`` survives provisioning through it."""
DEFAULT_REGION = "us-east-1"
_MOTO_ACCESS_KEY = "AKIAFEDHARNESSMOTO00"


@dataclass(frozen=True)
class ProviderExtra:
    """What moto drops from CreateSAMLProvider, kept for one provider."""

    encryption_mode: str | None = None
    private_keys: tuple[bytes, ...] = field(default=(), repr=False)
    tags: Mapping[str, str] = field(default_factory=dict)
    uuid: str | None = None
    """The SAMLProviderUUID; None until one is given (:meth:`ProviderExtras.ensure`)."""


class ProviderExtras:
    """Side table of provider ARN → encryption mode, private keys, tags and SAMLProviderUUID
    (moto drops or lacks them)."""

    def __init__(self) -> None:
        self._extras: dict[str, ProviderExtra] = {}
        self._lock = threading.Lock()

    def record(self, arn: str, extra: ProviderExtra) -> None:
        """Remember ``extra`` for the provider ``arn`` (replacing what was there)."""
        with self._lock:
            self._extras[arn] = extra

    def get(self, arn: str) -> ProviderExtra:
        """Return what is recorded for ``arn`` (nothing recorded: no encryption, no tags)."""
        with self._lock:
            return self._extras.get(arn, ProviderExtra())

    def ensure(self, arn: str) -> ProviderExtra:
        """Return what is recorded for ``arn``, giving it a SAMLProviderUUID if it has none.

        For a provider created behind the extras' back (straight into moto): AWS gives every
        provider an id, and it must not change between two reads.
        """
        with self._lock:
            extra = self._extras.get(arn, ProviderExtra())
            if extra.uuid is None:
                extra = replace(extra, uuid=new_provider_uuid())
                self._extras[arn] = extra
            return extra

    def uuid_owner(self, uuid: str) -> str | None:
        """Return the ARN of the provider recorded with this SAMLProviderUUID, if any."""
        with self._lock:
            return next((arn for arn, extra in self._extras.items() if extra.uuid == uuid), None)

    def forget(self, arn: str) -> None:
        """Drop what is recorded for ``arn``."""
        with self._lock:
            self._extras.pop(arn, None)

    def __contains__(self, arn: object) -> bool:
        with self._lock:
            return arn in self._extras

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._extras))

    def __len__(self) -> int:
        with self._lock:
            return len(self._extras)


# --- moto ---------------------------------------------------------------------------------------


def moto_is_active() -> bool:
    """Tell whether moto's in-process mock (``mock_aws``) is intercepting botocore now."""
    from moto.core.models import botocore_stubber

    return bool(botocore_stubber.enabled)


def moto_iam_client(account_id: str, *, region: str = DEFAULT_REGION) -> IamClient:
    """Return an IAM client whose calls land in ``account_id`` of moto's in-process mock.

    Refuses outside ``mock_aws``: the same client would otherwise talk to real AWS.
    """
    if not moto_is_active():
        raise MotoNotActiveError(
            "moto is not active: use moto_iam_client inside mock_aws() (it would reach real AWS)"
        )
    session = boto3.Session(
        aws_access_key_id=_MOTO_ACCESS_KEY,
        aws_secret_access_key="moto-ignores-this",  # noqa: S106 - moto checks no secret
        region_name=region,
    )
    client = session.client("iam")
    pin_moto_account(client, account_id)
    return client


def moto_iam_client_factory(*, region: str = DEFAULT_REGION) -> Callable[[str], IamClient]:
    """Return an ``account id → IAM client`` factory for moto in-process, one client each."""
    clients: dict[str, IamClient] = {}

    def factory(account_id: str) -> IamClient:
        if account_id not in clients:
            clients[account_id] = moto_iam_client(account_id, region=region)
        return clients[account_id]

    return factory


def pin_moto_account(client: Any, account_id: str) -> None:
    """Make every request of a boto3 ``client`` carry moto's account header (moto only)."""

    def add_header(request: Any, **_: object) -> None:
        request.headers[MOTO_ACCOUNT_HEADER] = account_id

    service = client.meta.service_model.service_name
    client.meta.events.register(f"request-created.{service}", add_header)


_ACCESS_KEY = re.compile(r"AWS.*(?<![A-Z0-9])([A-Z0-9]{20})(?![A-Z0-9])[:/]")
_REGION_IN_HOST = re.compile(r"\.([^.]+)\.amazonaws\.com")
_REGION_IN_AGENT = re.compile(r"region/([a-z]{2}-[a-z]+-\d)")


def moto_request_account(environ: Mapping[str, Any]) -> tuple[str, str]:
    """Return the (account id, partition) whose IAM backend moto's server uses for a request.

    moto's order (``moto/core/responses.py``: ``get_current_account``,
    ``get_region_from_url``): ``MOTO_ACCOUNT_ID``, the ``x-moto-account-id`` header, the
    account owning the signing access key, else 123456789012; the region from the host, the
    user agent, the credential scope, else us-east-1.
    """
    from moto.iam.models import get_account_id_from
    from moto.utilities.utils import get_partition

    authorization = str(environ.get("HTTP_AUTHORIZATION") or "")
    header = environ.get("HTTP_" + MOTO_ACCOUNT_HEADER.upper().replace("-", "_"))
    if "MOTO_ACCOUNT_ID" in os.environ:
        account_id = os.environ["MOTO_ACCOUNT_ID"]
    elif header:
        account_id = str(header)
    else:
        match = _ACCESS_KEY.search(authorization)
        account_id = get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")
    host = str(environ.get("HTTP_HOST") or "")
    in_host = _REGION_IN_HOST.search(f"{environ.get('wsgi.url_scheme', 'http')}://{host}")
    in_agent = _REGION_IN_AGENT.search(str(environ.get("HTTP_USER_AGENT") or ""))
    scope = authorization.split(",")[0].split("/")
    if in_host:
        region = in_host.group(1)
    elif in_agent:
        region = in_agent.group(1)
    elif "AWS4" in authorization and len(scope) > 2:
        region = scope[2]
    else:
        region = DEFAULT_REGION
    return account_id, str(get_partition(region))


def moto_saml_provider_names(account_id: str, partition: str = "aws") -> frozenset[str]:
    """Return the names of the SAML providers moto holds in an account (none if unseen)."""
    backend = _iam_backend(account_id, partition)
    return frozenset(backend.saml_providers) if backend is not None else frozenset()


def _iam_backend(account_id: str, partition: str) -> Any | None:
    """Return moto's IAM backend of an account, or None when moto has never seen the account."""
    from moto.iam.models import iam_backends

    if account_id not in iam_backends:  # plain dict membership: creates nothing
        return None
    return iam_backends[account_id][partition]


class MotoIam:
    """IamView over moto's in-process IAM backends plus the extras moto drops."""

    def __init__(self, extras: ProviderExtras | None = None) -> None:
        self.extras = extras if extras is not None else ProviderExtras()

    def saml_provider(self, arn: str) -> SamlProviderRecord | None:
        """Return the SAML provider with this ARN, or None when it does not exist."""
        match = PROVIDER_ARN.fullmatch(arn)
        if match is None:
            return None
        partition, account_id, name = match.groups()
        backend = _iam_backend(account_id, partition)
        provider = backend.saml_providers.get(name) if backend is not None else None
        if provider is None or provider.arn != arn:
            return None
        extra = self.extras.ensure(arn)
        return SamlProviderRecord(
            arn=arn,
            name=name,
            account_id=account_id,
            metadata=str(provider.saml_metadata_document or ""),
            encryption_mode=extra.encryption_mode,
            private_keys=extra.private_keys,
            tags=dict(extra.tags),
            uuid=extra.uuid,
        )

    def role(self, arn: str) -> RoleRecord | None:
        """Return the role with this ARN, or None when it does not exist."""
        match = ROLE_ARN.fullmatch(arn)
        if match is None:
            return None
        partition, account_id = match.group(1), match.group(2)
        backend = _iam_backend(account_id, partition)
        if backend is None:
            return None
        role = next((r for r in list(backend.roles.values()) if r.arn == arn), None)
        if role is None:
            return None
        return RoleRecord(
            arn=arn,
            name=role.name,
            account_id=account_id,
            role_id=role.id,
            path=role.path,
            trust_policy=_policy_text(role.assume_role_policy_document),
            max_session_duration=int(role.max_session_duration),
            managed_policies=tuple(role.managed_policies),
            inline_policies={name: _policy_text(doc) for name, doc in role.policies.items()},
            tags={tag["Key"]: tag["Value"] for tag in role.tags},
        )


def _policy_text(document: object) -> str:
    return document if isinstance(document, str) else json.dumps(document)


# --- live AWS -----------------------------------------------------------------------------------


class LiveIam:
    """IamView over a live account (or any endpoint speaking IAM), through boto3.

    Private keys are never readable from AWS, so records carry none; encrypted assertions can
    only be checked by AWS itself in live mode.
    """

    def __init__(self, session: Any, *, endpoint_url: str | None = None) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._account_id: str | None = None

    @functools.cached_property
    def _iam(self) -> IamClient:
        return self._session.client("iam", endpoint_url=self._endpoint_url)

    @property
    def account_id(self) -> str:
        """Return the account the session's credentials belong to."""
        if self._account_id is None:
            sts = self._session.client("sts", endpoint_url=self._endpoint_url)
            self._account_id = str(sts.get_caller_identity()["Account"])
        return self._account_id

    def saml_provider(self, arn: str) -> SamlProviderRecord | None:
        """Return the SAML provider with this ARN, or None when it does not exist."""
        match = PROVIDER_ARN.fullmatch(arn)
        if match is None or not self._own(match.group(2)):
            return None
        try:
            found = self._iam.get_saml_provider(SAMLProviderArn=arn)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) == "NoSuchEntity":
                return None
            raise
        return SamlProviderRecord(
            arn=arn,
            name=match.group(3),
            account_id=match.group(2),
            metadata=found["SAMLMetadataDocument"],
            encryption_mode=found.get("AssertionEncryptionMode"),
            tags={tag["Key"]: tag["Value"] for tag in found.get("Tags", [])},
            uuid=found.get("SAMLProviderUUID"),
        )

    def role(self, arn: str) -> RoleRecord | None:
        """Return the role with this ARN, or None when it does not exist."""
        match = ROLE_ARN.fullmatch(arn)
        if match is None or not self._own(match.group(2)):
            return None
        name = match.group(4)
        try:
            role = self._iam.get_role(RoleName=name)["Role"]
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) == "NoSuchEntity":
                return None
            raise
        if role["Arn"] != arn:
            return None  # same name, other path
        return RoleRecord(
            arn=arn,
            name=name,
            account_id=match.group(2),
            role_id=role["RoleId"],
            path=role["Path"],
            trust_policy=_policy_text(role["AssumeRolePolicyDocument"]),
            max_session_duration=int(role.get("MaxSessionDuration", 3600)),
            managed_policies=tuple(attached_policies(self._iam, name)),
            inline_policies={
                policy: _policy_text(
                    self._iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                )
                for policy in inline_policy_names(self._iam, name)
            },
            tags={tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
        )

    def _own(self, account_id: str) -> bool:
        return account_id == self.account_id


def attached_policies(iam: IamClient, role_name: str) -> list[str]:
    """Return the ARNs of the managed policies attached to a role."""
    pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
    return [policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]]


def inline_policy_names(iam: IamClient, role_name: str) -> list[str]:
    """Return the names of a role's inline policies."""
    pages = iam.get_paginator("list_role_policies").paginate(RoleName=role_name)
    return [name for page in pages for name in page["PolicyNames"]]


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def check_account(arn: str, account_id: str) -> None:
    """Refuse an ARN IAM returned for another account than the one asked for."""
    if f":{account_id}:" not in arn:
        raise AccountMismatchError(
            f"asked for account {account_id} but IAM answered {arn}; with moto, unset "
            "MOTO_ACCOUNT_ID (it overrides the per-account clients)"
        )


@functools.cache
def _moto_aws_policies() -> dict[str, tuple[str, dict[str, Any]]]:
    """Return moto's copy of AWS's managed policies: ARN → (name, data); parsed once."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, dict[str, Any]] = json.loads(aws_managed_policies_data)
    return {
        f"arn:aws:iam::aws:policy{item['Path']}{name}": (name, item) for name, item in data.items()
    }


def ensure_moto_managed_policy(account_id: str, policy_arn: str) -> bool:
    """Make an AWS managed policy attachable in moto's account; False when moto does not ship it.

    moto loads AWS's managed policies only with ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (then
    into every account, which is slow); this loads just the ones a scenario attaches.
    """
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    if policy_arn in backend.managed_policies:
        return True
    known = _moto_aws_policies().get(policy_arn)
    if known is None:
        return False
    name, data = known
    policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, data)
    backend.aws_managed_policies.append(policy)
    backend.managed_policies[policy.arn] = policy
    return True
