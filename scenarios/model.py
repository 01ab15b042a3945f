"""The scenario file: one IdP configuration, its directory, the AWS world and the expectations.

Validated by pydantic (exported as JSON Schema by ``fedharness schema``); a mistake is reported as
``file:line: message`` by :func:`scenarios.loader.load_scenario`.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from idp.config import IdpSettings
from idp.directory import DirectoryConfig
from sp_fixtures.aws.account import AwsWorld

ROLE_ARN_PATTERN = r"^arn:aws[\w-]*:iam::\d{12}:role/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}$"
RoleArn = Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)]
AwsErrorCode = Literal[
    "InvalidIdentityToken", "ExpiredTokenException", "AccessDenied", "ValidationError",
    "MalformedPolicyDocument", "PackedPolicyTooLarge", "IDPRejectedClaim",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedError(_Strict):
    """The AWS error a user gets instead of credentials."""

    code: AwsErrorCode = Field(description="AWS error code, e.g. AccessDenied.")
    message: str | None = Field(None, description="A part of AWS's message that must appear.")
    role: RoleArn | None = Field(
        None, description="Role to try; default: every role the assertion offers.")


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
        default_factory=dict, description="Extra condition keys for the evaluation.")


class Expectation(_Strict):
    """What one user (or every user a pattern matches) must get; ``roles`` or ``error``."""

    roles: list[RoleArn] | None = Field(
        None, description="Exactly the roles the user can assume ([] = none).")
    error: ExpectedError | None = Field(None, description="The AWS error the user gets.")
    session: SessionCheck | None = None
    can: list[PermissionCheck] = Field(default_factory=list)
    cannot: list[PermissionCheck] = Field(default_factory=list)

    @model_validator(mode="after")
    def _roles_or_error(self) -> Expectation:
        if (self.roles is None) == (self.error is None):
            raise ValueError("give exactly one of 'roles' and 'error'")
        return self


class Scenario(_Strict):
    """A scenario file."""

    name: str = Field(description="Short name, used in reports and resource tags.")
    description: str | None = None
    idp: IdpSettings
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    aws: AwsWorld = Field(default_factory=AwsWorld)
    expect: dict[str, Expectation] = Field(
        default_factory=dict,
        description="User name → expectation. Also 'group:NAME' (every member, transitively) "
        "and glob patterns such as 'contractor-*' or '*'. The most specific match wins: "
        "a user's own entry, then a group entry, then a pattern (first in file order).",
    )


def is_pattern(key: str) -> bool:
    """Return whether an ``expect`` key addresses several users."""
    return key.startswith("group:") or any(ch in key for ch in "*?[")


def pattern_matches(key: str, user: str, groups: tuple[str, ...]) -> bool:
    """Return whether the ``expect`` key ``key`` applies to ``user``."""
    if key.startswith("group:"):
        return key[len("group:"):] in groups
    return fnmatch.fnmatchcase(user, key)
