"""The simplest engine: an explicit table from group name to role ARNs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from idp.errors import MappingError
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.saml.builder import RoleOrder, RolePair, SamlAttribute
from idp.saml.constants import AwsAttribute

_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")


class ExplicitMappingConfig(BaseModel):
    """Group → role table, as many small IdP setups and hand-written SAML apps have it."""

    model_config = ConfigDict(extra="forbid")

    provider_name: str = Field(
        "fedharness",
        description="Name of the IAM SAML provider in each role's account; the provider ARN "
        "of a role is arn:aws:iam::<role's account>:saml-provider/<provider_name>.",
    )
    role_order: Literal["role-first", "provider-first"] = Field(
        "role-first", description="Order of the two ARNs inside each Role value."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name → role ARNs (or 'role-arn,provider-arn' pairs) its members get.",
    )
    users: dict[str, list[str]] = Field(
        default_factory=dict, description="User name → role ARNs assigned to that user directly."
    )


def _pair(entry: str, provider_name: str) -> RolePair:
    if "," in entry:
        first, second = (part.strip() for part in entry.split(",", 1))
        role, provider = (first, second) if ":role/" in first else (second, first)
        return RolePair(role, provider)
    match = _ROLE_ARN.match(entry)
    if match is None:
        raise MappingError(f"not a role ARN: {entry!r}")
    partition = entry.split(":")[1]
    return RolePair(entry, f"arn:{partition}:iam::{match.group(1)}:saml-provider/{provider_name}")


class ExplicitMapping:
    """Give each user the roles listed for their groups (transitively) and for them by name."""

    name = "explicit"

    def __init__(self, config: ExplicitMappingConfig) -> None:
        self.config = config
        self.order = RoleOrder(config.role_order)
        self._values: dict[str, tuple[RolePair, str]] = {}
        """Table entry → its pair and Role value, filled on first use (a bad entry still
        raises when a user reaches it, not when the IdP starts)."""

    def _granted(self, entry: str) -> tuple[RolePair, str]:
        found = self._values.get(entry)
        if found is None:
            pair = _pair(entry, self.config.provider_name)
            found = self._values[entry] = (pair, pair.value(self.order))
        return found

    def map(self, subject: MappingInput) -> MappingResult:
        """Return one Role attribute with every pair the table grants."""
        values: dict[RolePair, str] = {}
        trace: list[TraceStep] = []
        table = self.config.groups
        sources = [("group", group, table[group]) for group in subject.groups if group in table]
        by_user = self.config.users.get(subject.user.name)
        if by_user is not None:
            sources.append(("user", subject.user.name, by_user))
        for kind, name, entries in sources:
            if not entries:
                continue
            granted = [self._granted(entry) for entry in entries]
            for pair, value in granted:
                values.setdefault(pair, value)
            trace.append(
                TraceStep(
                    rule=f"explicit: {kind}s[{name!r}]",
                    matched=f"{kind} {name}",
                    produced=tuple(value for _, value in granted),
                )
            )
        if not trace:
            trace.append(TraceStep(rule="explicit", matched="no group of the user is in the table"))
        attributes: tuple[SamlAttribute, ...] = ()
        if values:
            attributes = (SamlAttribute(AwsAttribute.ROLE, tuple(values.values())),)
        return MappingResult(attributes=attributes, trace=tuple(trace))
