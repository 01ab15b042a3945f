"""The AWS world of a scenario: accounts, IAM SAML providers and roles, as a schema and as records.

The ``aws:`` key of a scenario file is validated by :class:`AwsWorld` (pydantic, exported as JSON
Schema); loading the file and turning errors into ``file:line: message`` is the scenario loader's
job (``idp.yamlfile.validate(AwsWorld, loaded, at=("aws",))``). Every policy document is parsed
with :func:`~sp_fixtures.aws.policy.parse_policy` at load time, so a malformed one is reported at
its own line, not when IAM refuses it. What IAM holds at run time is described by the frozen
records :class:`SamlProviderRecord` and :class:`RoleRecord`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import uuid as uuid_module
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from idp.saml.constants import AWS_SIGNIN_URL

from .policy import MalformedPolicyDocument, parse_policy
from .policy_location import check_policy, descend, policy_error

TAG_MANAGED = "fedharness:managed"
"""Tag put on every resource fedharness creates; its value is ``true``."""
TAG_SCENARIO = "fedharness:scenario"
"""Tag naming the scenario that created the resource; ``destroy`` removes only its own."""
RESERVED_TAG_PREFIXES = ("aws:", "fedharness:")
ASSUME_ROLE_WITH_SAML = "sts:AssumeRoleWithSAML"

_ACCOUNT_ID = re.compile(r"\d{12}")
_PROVIDER_NAME = r"^[\w.-]+$"
_ROLE_NAME = r"^[\w+=,.@-]+$"
_POLICY_NAME = r"^[\w+=,.@-]+$"
_ROLE_PATH = r"^/(?:[\x21-\x7e]*/)?$"
_TAG_TEXT = r"[\w\s.:/=+\-@]"
PROVIDER_ARN = re.compile(r"arn:(aws[\w-]*):iam::(\d{12}):saml-provider/([\w.-]{1,128})")
ROLE_ARN = re.compile(r"arn:(aws[\w-]*):iam::(\d{12}):role(/(?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})")
_MANAGED_POLICY_ARN = r"^arn:aws[\w-]*:iam::(aws|\d{12}):policy/[\x21-\x7e]+$"
PROVIDER_UUID_PATTERN = r"^[A-Z0-9]{22,64}$"
"""A SAMLProviderUUID: 22–64 of ``A-Z0-9`` (``privateKeyIdType`` in the IAM service model,
botocore 1.44.8, which GetSAMLProvider uses for ``SAMLProviderUUID``)."""


# --- errors -----------------------------------------------------------------------------------


class AccountError(Exception):
    """Root of the errors of the AWS world (provisioning, live apply/destroy, IAM views)."""

    code: ClassVar[str] = "account_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResourceFileError(AccountError):
    """A metadata or private-key file named in the scenario cannot be read."""

    code: ClassVar[str] = "unreadable_file"


class InvalidMetadataError(AccountError):
    """A provider's metadata is not a SAML metadata document IAM would accept."""

    code: ClassVar[str] = "invalid_metadata"
    iam_message: ClassVar[str] = "Could not parse metadata"
    """What IAM's CreateSAMLProvider answers (InvalidInput; aws-sts-saml.md §3.2)."""


class MetadataCertificateError(InvalidMetadataError):
    """A signing certificate in the metadata is unreadable, not RSA, or under 1024 bits."""

    code: ClassVar[str] = "invalid_metadata_certificate"
    iam_message: ClassVar[str] = "Unable to parse metadata"
    """IAM's text for this case per aws-sts-saml.md §3.2 (which of its two texts goes with
    which cause is our choice: the reference lists both for bad XML, BOM and weak certs)."""


class TooManyMetadataKeysError(InvalidMetadataError):
    """The metadata lists more signing certificates than IAM keeps per provider (10)."""

    code: ClassVar[str] = "too_many_metadata_keys"


class AwsCallError(AccountError):
    """IAM (moto or AWS) refused or failed a call while provisioning or destroying."""

    code: ClassVar[str] = "aws_call_failed"

    cause: Exception | None = None
    """The botocore exception, for a hint on what to do (an endpoint nothing listens on, …)."""


class AccountMismatchError(AccountError):
    """Calls landed in, or credentials belong to, another account than the scenario's."""

    code: ClassVar[str] = "account_mismatch"


class ResourceConflictError(AccountError):
    """A provider or role of that name exists and is not managed by this scenario."""

    code: ClassVar[str] = "resource_conflict"


class SampleKeyRefusedError(AccountError):
    """Live mode refuses an IdP signing certificate that ships in this repository."""

    code: ClassVar[str] = "sample_key_refused"


class UnknownManagedPolicyError(AccountError):
    """A managed policy ARN names no policy IAM (or moto's copy of AWS's) knows."""

    code: ClassVar[str] = "unknown_managed_policy"


class InvalidScenarioNameError(AccountError):
    """The scenario name cannot be a tag value (it tags everything fedharness makes)."""

    code: ClassVar[str] = "invalid_scenario_name"


class MotoNotActiveError(AccountError):
    """A moto in-process client was asked for outside ``mock_aws``."""

    code: ClassVar[str] = "moto_not_active"


# --- schema -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _account_key(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            'quote account ids ("111111111111"): YAML reads unquoted digits as a number'
        )
    return value


def _plain_json(value: object) -> object:
    """Turn YAML dates back into the text they were written as (``Version: 2012-10-17``)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    return value


def _tag_key(value: str) -> str:
    if value.lower().startswith(RESERVED_TAG_PREFIXES):
        reserved = " or ".join(RESERVED_TAG_PREFIXES)
        raise ValueError(f"tag keys starting with {reserved} are reserved")
    return value


AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$"), BeforeValidator(_account_key)]
TagKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=rf"^{_TAG_TEXT}+$"),
    AfterValidator(_tag_key),
]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=rf"^{_TAG_TEXT}*$")]
Tags = Annotated[
    dict[TagKey, TagValue],
    Field(max_length=48, description="Tags (at most 48: fedharness adds two of its own)."),
]
ProviderName = Annotated[str, StringConstraints(max_length=128, pattern=_PROVIDER_NAME)]
RoleName = Annotated[str, StringConstraints(max_length=64, pattern=_ROLE_NAME)]
PolicyName = Annotated[str, StringConstraints(max_length=128, pattern=_POLICY_NAME)]
ManagedPolicyArn = Annotated[str, StringConstraints(max_length=2048, pattern=_MANAGED_POLICY_ARN)]
PolicyDocument = Annotated[dict[str, Any], BeforeValidator(_plain_json)]
"""An IAM policy document, JSON written as YAML (unquoted dates are read back as text)."""


class EncryptionSpec(_Strict):
    """SAML assertion encryption for a provider (AssertionEncryptionMode and AddPrivateKey)."""

    mode: Literal["Required", "Allowed"] = Field(
        description="Required: plaintext assertions are refused; Allowed: both are accepted."
    )
    private_keys: list[str] = Field(
        min_length=1,
        max_length=2,
        description="PEM private keys that decrypt assertions (paths relative to the scenario "
        "file); IAM keeps at most two.",
    )


def new_provider_uuid() -> str:
    """Return a fresh random SAMLProviderUUID: a uuid4 in base32, 26 of ``A-Z2-7``.

    AWS's ids are opaque; this only has their form (:data:`PROVIDER_UUID_PATTERN`).
    """
    return base64.b32encode(uuid_module.uuid4().bytes).decode("ascii").rstrip("=")


def _check_provider_uuid(value: str) -> str:
    if not re.fullmatch(PROVIDER_UUID_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a SAMLProviderUUID: 22 to 64 capital letters A-Z and digits, "
            "as IAM's GetSAMLProvider returns it"
        )
    return value


ProviderUuid = Annotated[
    str,
    AfterValidator(_check_provider_uuid),
    WithJsonSchema({"type": "string", "pattern": PROVIDER_UUID_PATTERN}),
]


class SamlProviderSpec(_Strict):
    """An IAM SAML identity provider."""

    metadata: str = Field(
        "from-idp",
        description="'from-idp' for the scenario IdP's metadata, or a path to a metadata XML "
        "file (relative to the scenario file).",
    )
    encryption: EncryptionSpec | None = Field(None, description="Assertion encryption.")
    tags: Tags = Field(default_factory=dict)
    uuid: ProviderUuid | None = Field(
        None,
        description="The provider's SAMLProviderUUID (22-64 of A-Z and 0-9), fixed so that an "
        "IdP can post encrypted assertions to "
        "https://<region>.signin.aws.amazon.com/saml/acs/<uuid> named in advance; default: a "
        "random one. moto and sts serve only: live AWS assigns its own.",
    )


class TrustSpec(_Strict):
    """A SAML trust policy built for you: one Allow statement for a provider."""

    provider: str = Field(
        description="A provider name declared in this account, or a full saml-provider ARN."
    )
    actions: list[str] = Field(
        default_factory=lambda: [ASSUME_ROLE_WITH_SAML],
        min_length=1,
        description="Actions allowed (add sts:TagSession / sts:SetSourceIdentity as needed).",
    )
    audiences: list[str] = Field(
        default_factory=lambda: [AWS_SIGNIN_URL],
        description="Allowed SAML:aud values (the assertion's Recipient); [] for no condition.",
    )
    conditions: Annotated[dict[str, dict[str, Any]], BeforeValidator(_plain_json)] = Field(
        default_factory=dict,
        description="More conditions, operator → key → value(s), merged with SAML:aud.",
    )

    @field_validator("provider")
    @classmethod
    def _provider_form(cls, value: str) -> str:
        return _check_provider_reference(value)

    @model_validator(mode="after")
    def _parses(self) -> TrustSpec:
        document = self.document("arn:aws:iam::000000000000:saml-provider/Check")
        try:
            parse_policy(document)
        except MalformedPolicyDocument as exc:
            loc: tuple[Hashable, ...] = ("conditions",)
            if exc.problem.startswith("Action"):
                named = [i for i, action in enumerate(self.actions) if repr(action) in exc.problem]
                loc = ("actions", *named[:1])
            else:
                loc = descend({"conditions": self.conditions}, loc, exc.problem)
            raise policy_error(loc, exc.problem, document) from None
        return self

    def document(self, provider_arn: str) -> dict[str, Any]:
        """Return the trust policy document for ``provider_arn``."""
        conditions: dict[str, dict[str, Any]] = {}
        if self.audiences:
            audience: str | list[str] = (
                self.audiences[0] if len(self.audiences) == 1 else list(self.audiences)
            )
            conditions["StringEquals"] = {"SAML:aud": audience}
        for operator, block in self.conditions.items():
            conditions.setdefault(operator, {}).update(block)
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": self.actions[0] if len(self.actions) == 1 else list(self.actions),
        }
        if conditions:
            statement["Condition"] = conditions
        return {"Version": "2012-10-17", "Statement": [statement]}


def _trusts_kind(value: object) -> str:
    return "name" if isinstance(value, str) else "mapping"


TrustReference = Annotated[
    Annotated[str, Tag("name")] | Annotated[TrustSpec, Tag("mapping")],
    Discriminator(_trusts_kind),
]


class RoleSpec(_Strict):
    """An IAM role that a SAML provider's users may assume."""

    trusts: TrustReference | None = Field(
        None,
        description="A provider name (or saml-provider ARN) for the console's default SAML "
        "trust policy, or a mapping to build one. Exactly one of trusts and "
        "trust_policy.",
    )
    trust_policy: PolicyDocument | None = Field(
        None, description="The trust policy document verbatim."
    )
    max_session_duration: int = Field(
        3600, ge=3600, le=43200, description="MaxSessionDuration in seconds (1 to 12 hours)."
    )
    path: str = Field(
        "/", max_length=512, pattern=_ROLE_PATH, description="The role's path, e.g. /federated/."
    )
    policies: list[ManagedPolicyArn] = Field(
        default_factory=list, max_length=20, description="Managed policy ARNs to attach."
    )
    inline_policies: dict[PolicyName, PolicyDocument] = Field(
        default_factory=dict, description="Inline permission policies by name."
    )
    tags: Tags = Field(default_factory=dict)

    @field_validator("trusts")
    @classmethod
    def _trusts_form(cls, value: str | TrustSpec | None) -> str | TrustSpec | None:
        return _check_provider_reference(value) if isinstance(value, str) else value

    @field_validator("trust_policy")
    @classmethod
    def _trust_policy_parses(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_policy(value, trust=True)
        return value

    @field_validator("inline_policies")
    @classmethod
    def _inline_policies_parse(cls, value: dict[str, dict[str, Any]]) -> dict[str, Any]:
        for name, document in value.items():
            check_policy(document, trust=False, loc=(name,))
        return value

    @model_validator(mode="after")
    def _one_trust(self) -> RoleSpec:
        if (self.trusts is None) == (self.trust_policy is None):
            raise ValueError("give exactly one of 'trusts' and 'trust_policy'")
        return self

    def trust_policy_document(self, account_id: str) -> dict[str, Any]:
        """Return the role's trust policy as a document (built from ``trusts`` or verbatim)."""
        if self.trust_policy is not None:
            return copy.deepcopy(self.trust_policy)
        assert self.trusts is not None  # noqa: S101 - guaranteed by _one_trust
        if isinstance(self.trusts, str):
            return default_trust_policy(provider_arn(account_id, self.trusts))
        return self.trusts.document(provider_arn(account_id, self.trusts.provider))

    def trust_policy_json(self, account_id: str) -> str:
        """Return the trust policy as the JSON text sent to IAM."""
        return json.dumps(self.trust_policy_document(account_id))

    def trusted_provider(self) -> str | None:
        """Return the provider name or ARN that ``trusts`` names (None with ``trust_policy``)."""
        if isinstance(self.trusts, TrustSpec):
            return self.trusts.provider
        return self.trusts


class AccountSpec(_Strict):
    """One AWS account: its SAML providers and roles."""

    saml_providers: dict[ProviderName, SamlProviderSpec] = Field(
        default_factory=dict, max_length=100, description="IAM SAML providers by name."
    )
    roles: dict[RoleName, RoleSpec] = Field(default_factory=dict, description="Roles by name.")


class AwsWorld(_Strict):
    """The ``aws:`` key of a scenario file: the accounts the IdP federates into."""

    accounts: dict[AccountId, AccountSpec] = Field(
        default_factory=dict,
        description="Accounts by 12-digit id (quote it in YAML).",
        json_schema_extra={"additionalProperties": False},
    )

    @model_validator(mode="after")
    def _trusted_providers_exist(self) -> AwsWorld:
        errors: list[InitErrorDetails] = []
        for account_id, account in self.accounts.items():
            for role_name, role in account.roles.items():
                reference = role.trusted_provider()
                if reference is None:
                    continue
                owner, name = _provider_owner(account_id, reference)
                declared = self.accounts.get(owner)
                if declared is None and owner != account_id:
                    continue  # a provider in an account this scenario does not manage
                if declared is None or name not in declared.saml_providers:
                    loc: tuple[str, ...] = ("accounts", account_id, "roles", role_name, "trusts")
                    if isinstance(role.trusts, TrustSpec):
                        loc = (*loc, "provider")
                    known = ", ".join(declared.saml_providers) if declared else ""
                    errors.append(
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "unknown_provider",
                                "no SAML provider {name} is declared in account {account}{known}",
                                {
                                    "name": repr(name),
                                    "account": owner,
                                    "known": f" (declared: {known})" if known else "",
                                },
                            ),
                            loc=loc,
                            input=reference,
                        )
                    )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _trust_policies_fit_the_quota(self) -> AwsWorld:
        errors: list[InitErrorDetails] = []
        for account_id, account in self.accounts.items():
            for role_name, role in account.roles.items():
                size = trust_policy_size(role.trust_policy_json(account_id))
                if size <= TRUST_POLICY_QUOTA:
                    continue
                field_name = "trust_policy" if role.trust_policy is not None else "trusts"
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "trust_policy_too_large",
                            "the trust policy has {size} characters besides white space; IAM "
                            "allows {quota} by default (LimitExceeded: Cannot exceed quota for "
                            "ACLSizePerRole)",
                            {"size": size, "quota": TRUST_POLICY_QUOTA},
                        ),
                        loc=("accounts", account_id, "roles", role_name, field_name),
                        input=role_name,
                    )
                )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _provider_uuids_unique(self) -> AwsWorld:
        seen: dict[str, str] = {}
        errors: list[InitErrorDetails] = []
        for account_id, account in self.accounts.items():
            for name, spec in account.saml_providers.items():
                if spec.uuid is None:
                    continue
                first = seen.setdefault(spec.uuid, f"{account_id}/{name}")
                if first != f"{account_id}/{name}":
                    errors.append(
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "duplicate_provider_uuid",
                                "SAML provider {first} already has uuid {uuid}; every provider's "
                                "SAMLProviderUUID is unique",
                                {"first": first, "uuid": spec.uuid},
                            ),
                            loc=("accounts", account_id, "saml_providers", name, "uuid"),
                            input=spec.uuid,
                        )
                    )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def provider_arns(self) -> list[str]:
        """Return the ARN of every declared SAML provider."""
        return [
            provider_arn(account_id, name)
            for account_id, account in self.accounts.items()
            for name in account.saml_providers
        ]

    def role_arns(self) -> list[str]:
        """Return the ARN of every declared role."""
        return [
            role_arn(account_id, name, role.path)
            for account_id, account in self.accounts.items()
            for name, role in account.roles.items()
        ]


# --- ARNs and trust policies -----------------------------------------------------------------


def provider_arn(account_id: str, name_or_arn: str) -> str:
    """Return the ARN of a SAML provider named in ``account_id`` (an ARN is returned as is)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:aws:iam::{account_id}:saml-provider/{name_or_arn}"


def role_arn(account_id: str, name: str, path: str = "/") -> str:
    """Return the ARN of a role."""
    return f"arn:aws:iam::{account_id}:role{path}{name}"


#: IAM's default "Role trust policy length" quota: characters besides white space.
TRUST_POLICY_QUOTA = 2048
_WHITE_SPACE = re.compile(r"\s+")


def trust_policy_size(document: str) -> int:
    """Return the size IAM counts against :data:`TRUST_POLICY_QUOTA` (white space is free)."""
    return len(_WHITE_SPACE.sub("", document))


def default_trust_policy(provider: str) -> dict[str, Any]:
    """Return the trust policy the IAM console writes for a SAML provider (aws-sts-saml.md §2.2)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": ASSUME_ROLE_WITH_SAML,
                "Condition": {"StringEquals": {"SAML:aud": AWS_SIGNIN_URL}},
            }
        ],
    }


def managed_tags(scenario_name: str) -> dict[str, str]:
    """Return the tags fedharness puts on everything it creates for ``scenario_name``."""
    if not re.fullmatch(rf"{_TAG_TEXT}{{1,256}}", scenario_name):
        raise InvalidScenarioNameError(
            f"scenario name {scenario_name!r} cannot be a tag value "
            "(1-256 letters, digits, spaces and _ . : / = + - @)"
        )
    return {TAG_MANAGED: "true", TAG_SCENARIO: scenario_name}


def is_managed_by(tags: Mapping[str, str], scenario_name: str) -> bool:
    """Tell whether ``tags`` mark a resource as created by fedharness for ``scenario_name``."""
    return tags.get(TAG_MANAGED) == "true" and tags.get(TAG_SCENARIO) == scenario_name


def _check_provider_reference(value: str) -> str:
    if value.startswith("arn:"):
        if not PROVIDER_ARN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a saml-provider ARN "
                "(arn:aws:iam::<12 digits>:saml-provider/<name>)"
            )
    elif not re.fullmatch(_PROVIDER_NAME, value) or len(value) > 128:
        raise ValueError(f"{value!r} is not a SAML provider name (letters, digits, . _ -)")
    return value


def _provider_owner(account_id: str, reference: str) -> tuple[str, str]:
    match = PROVIDER_ARN.fullmatch(reference)
    if match is None:
        return account_id, reference
    return match.group(2), match.group(3)


# --- runtime records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SamlProviderRecord:
    """An IAM SAML provider as IAM (or moto plus our side table) holds it."""

    arn: str
    name: str
    account_id: str
    metadata: str
    """The SAML metadata document uploaded to IAM."""
    encryption_mode: str | None = None
    """``Required``, ``Allowed``, or None when assertions are not encrypted."""
    private_keys: tuple[bytes, ...] = field(default=(), repr=False)
    """PEM keys that decrypt assertions; empty in live mode (AWS never returns them)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    uuid: str | None = None
    """The ``SAMLProviderUUID``: with encryption the Recipient must be
    ``https://<region>.signin.aws.amazon.com/saml/acs/<uuid>``. Always set under moto; None
    only when live IAM returned none."""


@dataclass(frozen=True)
class RoleRecord:
    """An IAM role as IAM holds it."""

    arn: str
    name: str
    account_id: str
    role_id: str
    """The ``AROA…`` unique id, the first half of ``AssumedRoleId``."""
    path: str
    trust_policy: str
    """The trust (assume-role) policy as JSON text."""
    max_session_duration: int
    managed_policies: tuple[str, ...] = ()
    """ARNs of the attached managed policies."""
    inline_policies: Mapping[str, str] = field(default_factory=dict)
    """Inline policy name → JSON text."""
    tags: Mapping[str, str] = field(default_factory=dict)


class IamView(Protocol):
    """Read-only access to the IAM state the strict STS checks against.

    Implementations: ``MotoIam`` (moto in-process) and ``LiveIam`` (boto3) in
    :mod:`sp_fixtures.aws.iam_view`.
    """

    def saml_provider(self, arn: str) -> SamlProviderRecord | None:
        """Return the SAML provider with this ARN, or None when it does not exist."""
        ...

    def role(self, arn: str) -> RoleRecord | None:
        """Return the role with this ARN, or None when it does not exist."""
        ...


def account_of(arn: str) -> str | None:
    """Return the 12-digit account id in an IAM ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and _ACCOUNT_ID.fullmatch(parts[4]):
        return parts[4]
    return None
