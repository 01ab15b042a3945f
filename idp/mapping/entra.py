"""Microsoft Entra ID "AWS Single-Account Access": app roles assigned to users and groups.

Reference: reference/idp-mappings.md §3.1. Each app role's *value* is the Role attribute value
("role-arn,provider-arn", role first), sent verbatim for every role the user holds directly or
through a group. Group-based assignment does not follow nested groups (Microsoft Learn, "Assign a
group to an enterprise application": nested group memberships are not supported), so only the
user's direct groups count unless ``nested_groups`` says otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from idp.directory import User
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute

MSIAM_ACCESS = "msiam_access"
"""The gallery app's built-in app role, whose value is null."""

DEFAULT_CLAIMS = {
    AwsAttribute.ROLE.value: "user.assignedroles",
    AwsAttribute.ROLE_SESSION_NAME.value: "user.userprincipalname",
    AwsAttribute.SESSION_DURATION.value: "user.sessionduration",
}
MemberType = Literal["User", "Application"]
_USER_FIELDS = {
    "userprincipalname": "upn",
    "mail": "email",
    "displayname": "display_name",
    "givenname": "given_name",
    "surname": "surname",
}


class EntraAppRole(BaseModel):
    """One app role of the service principal, as in Microsoft Graph's ``appRoles``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    display_name: str = Field(alias="displayName", description="Display name, e.g. 'Admin,WAAD'.")
    value: str | None = Field(
        description="The value sent in the Role claim: 'role-arn,provider-arn' (null: nothing)."
    )
    id: str | None = Field(None, description="The app role's GUID.")
    description: str | None = Field(None, description="Description.")
    is_enabled: bool = Field(True, alias="isEnabled", description="A disabled role is not sent.")
    allowed_member_types: list[MemberType] = Field(
        default_factory=lambda: list[MemberType](["User"]),
        alias="allowedMemberTypes",
        description="Who can be assigned; users and groups need 'User'.",
    )
    origin: str | None = Field(None, description="Graph's origin field (ignored).")


def _claim_source_ok(source: str) -> bool:
    constant = len(source) >= 2 and source[0] == source[-1] == '"'
    return constant or (source.startswith("user.") and len(source) > len("user."))


class EntraAwsConfig(BaseModel):
    """The AWS Single-Account Access enterprise app: app roles, assignments and claims."""

    model_config = ConfigDict(extra="forbid")

    app_roles: list[EntraAppRole] = Field(
        default_factory=list,
        description="App roles (Graph appRoles JSON is accepted); "
        "msiam_access is added when not listed.",
    )
    user_assignments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="User name → app roles assigned to the user (display name, value or id).",
    )
    group_assignments: dict[str, list[str]] = Field(
        default_factory=dict, description="Group name → app roles assigned to the group."
    )
    nested_groups: bool = Field(
        False,
        description="Let assignments to a group reach members of its nested groups "
        "(Entra does not).",
    )
    claims: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CLAIMS),
        description="Claim name → source: user.assignedroles, user.userprincipalname, "
        'user.mail, user.sessionduration, user.<directory attribute>, or a "constant".',
    )
    session_duration: int | None = Field(
        None,
        description="Value of user.sessionduration for users without a 'sessionduration' "
        "directory attribute; unset: the claim is not sent for them.",
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> EntraAwsConfig:
        if not any(role.display_name == MSIAM_ACCESS for role in self.app_roles):
            self.app_roles.append(EntraAppRole(display_name=MSIAM_ACCESS, value=None))
        for kind, table in (("user", self.user_assignments), ("group", self.group_assignments)):
            for principal, references in table.items():
                for reference in references:
                    role = self.app_role(reference)
                    if "User" not in role.allowed_member_types:
                        raise ValueError(
                            f"app role {reference!r} does not allow users and "
                            f"groups, so {kind} {principal!r} cannot be assigned it"
                        )
        for claim, source in self.claims.items():
            if not _claim_source_ok(source):
                raise ValueError(
                    f"claim {claim!r}: source {source!r} is neither user.<attribute>"
                    ' nor a "constant"'
                )
        return self

    def app_role(self, reference: str) -> EntraAppRole:
        """Return the app role a display name, value or id names; ValueError if none or many."""
        for key in ("display_name", "value", "id"):
            found = [r for r in self.app_roles if getattr(r, key) == reference]
            if len(found) > 1:
                raise ValueError(f"{len(found)} app roles have the {key} {reference!r}")
            if found:
                return found[0]
        known = ", ".join(repr(r.display_name) for r in self.app_roles)
        raise ValueError(f"no app role is called {reference!r} (app roles: {known})")


class EntraAwsMapping:
    """Send the value of every app role assigned to the user or one of their groups."""

    name = "entra"

    def __init__(self, config: EntraAwsConfig) -> None:
        self.config = config
        self._user_roles = {
            user: [config.app_role(r) for r in refs]
            for user, refs in config.user_assignments.items()
        }
        self._group_roles = {
            group: [config.app_role(r) for r in refs]
            for group, refs in config.group_assignments.items()
        }

    def assigned_roles(self, subject: MappingInput, trace: list[TraceStep]) -> tuple[str, ...]:
        """Return the values of the app roles ``subject`` holds, tracing each assignment."""
        rule = "entra: user.assignedroles"
        holdings: list[tuple[str, list[EntraAppRole]]] = []
        own = self._user_roles.get(subject.user.name)
        if own is not None:
            holdings.append((f"user {subject.user.name}", own))
        counted = subject.groups if self.config.nested_groups else subject.direct_groups
        for group in subject.groups:
            roles = self._group_roles.get(group)
            if roles is None:
                continue
            if group not in counted:
                names = ", ".join(r.display_name for r in roles)
                trace.append(
                    TraceStep(
                        rule=rule,
                        matched=f"group {group!r} ({names}) reaches "
                        "the user only through nesting: Entra ignores it",
                    )
                )
                continue
            holdings.append((f"group {group!r}", roles))
        if not holdings:
            trace.append(
                TraceStep(
                    rule=rule,
                    matched="the user is not assigned to the app, "
                    "directly or through a direct group",
                )
            )
        values: list[str] = []
        for holder, roles in holdings:
            for role in roles:
                matched = f"{holder} is assigned app role {role.display_name!r}"
                if role.value is None or not role.is_enabled:
                    why = "its value is null" if role.value is None else "it is disabled"
                    trace.append(TraceStep(rule=rule, matched=f"{matched}; {why}: nothing sent"))
                    continue
                values.append(role.value)
                trace.append(TraceStep(rule=rule, matched=matched, produced=(role.value,)))
        return tuple(dict.fromkeys(values))

    def claim_values(
        self, source: str, subject: MappingInput, trace: list[TraceStep]
    ) -> tuple[str, ...]:
        """Return the values a claim source gives for ``subject`` (empty: claim not sent)."""
        if source.startswith('"'):
            return (source[1:-1],)
        attribute = source.removeprefix("user.").lower()
        if attribute == "assignedroles":
            return self.assigned_roles(subject, trace)
        user = subject.user
        if attribute in _USER_FIELDS:
            value = getattr(user, _USER_FIELDS[attribute])
            return (value,) if value else ()
        found = _attribute(user, attribute)
        if not found and attribute == "sessionduration" and self.config.session_duration:
            return (str(self.config.session_duration),)
        return found

    def map(self, subject: MappingInput) -> MappingResult:
        """Return one attribute per configured claim that has a value for ``subject``."""
        trace: list[TraceStep] = []
        attributes: list[SamlAttribute] = []
        for claim, source in self.config.claims.items():
            values = self.claim_values(source, subject, trace)
            rule = f"entra: claim {claim} ← {source}"
            if values:
                attributes.append(SamlAttribute(claim, values))
                trace.append(
                    TraceStep(rule=rule, matched=f"user {subject.user.name}", produced=values)
                )
            else:
                trace.append(
                    TraceStep(
                        rule=rule,
                        matched=f"user {subject.user.name} has no value for it: claim not sent",
                    )
                )
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))


def _attribute(user: User, name: str) -> tuple[str, ...]:
    for key, values in user.attributes.items():
        if key.lower() == name:
            return values
    return ()
