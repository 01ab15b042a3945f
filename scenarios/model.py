"""The scenario file: one IdP configuration, its directory, the AWS world and the expectations.

Validated by pydantic (exported as JSON Schema by ``fedharness schema``); a mistake is reported as
``file:line: message`` by :func:`scenarios.loader.load_scenario`.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from idp.config import IdpSettings
from idp.directory import DirectoryConfig
from sp_fixtures.aws.account import AwsWorld

ROLE_ARN_PATTERN = r"^arn:aws[\w-]*:iam::\d{12}:role/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}$"
_ROLE_ARN_FORM = "arn:aws:iam::<12-digit account>:role/<name>"


def role_arn_problem(value: str) -> str | None:
    """Return which part of ``value`` keeps it from being a role ARN, or None when it is one."""
    if re.fullmatch(ROLE_ARN_PATTERN, value):
        return None
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return f"expected {_ROLE_ARN_FORM}, six parts separated by ':'"
    _, partition, service, region, account, resource = parts
    if not re.fullmatch(r"aws[\w-]*", partition):
        return f"the partition is {partition!r}, not aws"
    if service != "iam":
        return f"the service is {service!r}, not iam"
    if region:
        return f"IAM ARNs have no region (got {region!r}): {_ROLE_ARN_FORM}"
    if not re.fullmatch(r"\d{12}", account):
        return f"the account id is {account!r}, not 12 digits"
    if not resource.startswith("role/"):
        return f"the resource is {resource!r}, not role/<name>"
    return "the role name is not valid (at most 64 letters, digits and _+=,.@-)"


def _check_role_arn(value: str) -> str:
    problem = role_arn_problem(value)
    if problem is not None:
        raise ValueError(f"not a role ARN: {value!r}: {problem}")
    return value


RoleArn = Annotated[
    str,
    AfterValidator(_check_role_arn),
    WithJsonSchema({"type": "string", "pattern": ROLE_ARN_PATTERN}),
]
AwsErrorCode = Literal[
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "AccessDenied",
    "ValidationError",
    "MalformedPolicyDocument",
    "PackedPolicyTooLarge",
    "IDPRejectedClaim",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedError(_Strict):
    """The AWS error a user gets instead of credentials."""

    code: AwsErrorCode = Field(description="AWS error code, e.g. AccessDenied.")
    message: str | None = Field(None, description="A part of AWS's message that must appear.")
    role: RoleArn | None = Field(
        None, description="Role to try; default: every role the assertion offers."
    )


class SessionCheck(_Strict):
    """What the session of an assumed role must look like."""

    role: RoleArn | None = Field(None, description="Which assumed role; default: each one.")
    name: str | None = Field(None, description="RoleSessionName.")
    duration: int | None = Field(None, description="Session length in seconds.")
    tags: dict[str, str] | None = Field(None, description="Session tags, exactly.")
    source_identity: str | None = None


class PermissionCheck(_Strict):
    """An action on a resource, evaluated against the role's permission policies."""

    action: str = Field(description="e.g. s3:GetObject")
    resource: str = Field("*", description="Resource ARN.")
    role: RoleArn | None = Field(None, description="Which role; default: each role assumed.")
    context: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Extra condition keys for the evaluation."
    )


class Expectation(_Strict):
    """What one user (or every user a pattern matches) must get; ``roles`` or ``error``.

    Without ``roles``, the user may assume only the roles the expectation names elsewhere
    (``error.role``, ``session.role``, ``can``/``cannot`` ``role``); any other role assumed
    fails it as an unexpected role.
    """

    roles: list[RoleArn] | None = Field(
        None,
        description="Exactly the roles the user can assume ([] = none). Left out (with "
        "'error'), the user may assume no role but those named by error.role, session.role "
        "and can/cannot roles.",
    )
    error: ExpectedError | None = Field(None, description="The AWS error the user gets.")
    session: SessionCheck | None = None
    can: list[PermissionCheck] = Field(default_factory=list)
    cannot: list[PermissionCheck] = Field(default_factory=list)

    @model_validator(mode="after")
    def _roles_or_error(self) -> Expectation:
        if self.roles is not None and self.error is not None:
            raise ValueError("give either 'roles' or 'error', not both")
        if self.roles is None and self.error is None:
            raise ValueError(
                "give 'roles' (the exact roles the user gets, [] for none) "
                "or 'error' (the AWS error the user gets)"
            )
        return self


class StsSettings(_Strict):
    """How the strict STS judges this scenario's assertions.

    Applies where fedharness runs the STS for the scenario (``--aws moto``, and the cross-check
    of ``--aws live``); a running ``fedharness sts serve`` has its own flags.
    """

    allow_sha1: bool = Field(
        False,
        description="Accept RSA-SHA1 signatures and SHA-1 digests. Off by default: whether AWS "
        "still accepts SHA-1 is unverified, so the strict STS refuses it.",
    )


class Scenario(_Strict):
    """A scenario file."""

    name: str = Field(description="Short name, used in reports and resource tags.")
    description: str | None = None
    idp: IdpSettings
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    aws: AwsWorld = Field(default_factory=AwsWorld)
    sts: StsSettings = Field(
        default_factory=StsSettings, description="Settings of the strict STS for this scenario."
    )
    expect: dict[str, Expectation] = Field(
        default_factory=dict,
        description="User name → expectation. Also 'group:NAME' (every member, transitively) "
        "and glob patterns such as 'contractor-*' or '*'. The most specific match wins: "
        "a user's own entry, then a group entry, then a pattern; two group entries (or two "
        "patterns) that both match a user must hold the same expectation. A run issues every "
        "directory user's assertion: a user no entry covers fails the run by assuming any "
        "role.",
    )

    @field_validator("expect", mode="before")
    @classmethod
    def _no_dedented_fields(cls, expect: object) -> object:
        """Name the mistake when an expectation's field slipped out to the level of the users."""
        if isinstance(expect, dict):
            for key, value in expect.items():
                if key in Expectation.model_fields and not isinstance(value, dict):
                    raise ValueError(
                        f"'{key}' is a field of an expectation, not a user: "
                        "indent it under the user (or group:/pattern entry) it belongs to"
                    )
        return expect


def is_pattern(key: str) -> bool:
    """Return whether an ``expect`` key addresses several users."""
    return key.startswith("group:") or any(ch in key for ch in "*?[")


def pattern_matches(key: str, user: str, groups: tuple[str, ...]) -> bool:
    """Return whether the ``expect`` key ``key`` applies to ``user``."""
    if key.startswith("group:"):
        return key[len("group:") :] in groups
    return fnmatch.fnmatchcase(user, key)
