"""Google Workspace and JumpCloud: Role values typed into custom attributes, sent verbatim.

Reference: reference/idp-mappings.md §4. Google maps the SAML Role attribute from a multi-valued
custom user attribute (category ``Amazon``, field ``Role``): values are set per user, there is no
group → role step. JumpCloud's AWS connector sends constant attributes to the user groups bound
to it, or maps attributes from the user's custom attributes, which a user also inherits from the
custom attributes of their groups. Neither IdP checks or trims what the admin typed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idp.directory import User
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute

GOOGLE_BASIC = {"primary_email": "email", "first_name": "given_name", "last_name": "surname"}
JUMPCLOUD_BASIC = {
    "email": "email",
    "username": "name",
    "firstname": "given_name",
    "lastname": "surname",
    "displayname": "display_name",
}


def _check_source(source: str, basic: dict[str, str]) -> str:
    if source in basic or (source.startswith("custom:") and len(source) > len("custom:")):
        return source
    raise ValueError(f"unknown source {source!r}: use one of {', '.join(basic)} or custom:NAME")


def _user_values(user: User, source: str, basic: dict[str, str]) -> tuple[str, ...]:
    """Return what a basic field or ``custom:NAME`` directory attribute holds for ``user``."""
    if source.startswith("custom:"):
        return user.attributes.get(source.removeprefix("custom:"), ())
    value = getattr(user, basic[source])
    return (value,) if value else ()


class GoogleGroupMembership(BaseModel):
    """Google's optional "Group membership" mapping: names of selected groups, unchanged."""

    model_config = ConfigDict(extra="forbid")

    groups: list[str] = Field(description="Google groups whose names may be sent.")
    app_attribute: str = Field(description="App attribute the group names are sent as.")


class GoogleWorkspaceConfig(BaseModel):
    """A Google Workspace custom SAML app's attribute mapping."""

    model_config = ConfigDict(extra="forbid")

    attribute_mapping: dict[str, str] = Field(
        default_factory=lambda: {
            AwsAttribute.ROLE.value: "custom:Amazon.Role",
            AwsAttribute.ROLE_SESSION_NAME.value: "primary_email",
            AwsAttribute.SESSION_DURATION.value: "custom:Amazon.SessionDuration",
        },
        description="App attribute → Google directory attribute: primary_email, first_name, "
        "last_name, or custom:Category.Field (a directory attribute of that name, each of its "
        "values sent, e.g. 'role-arn,provider-arn').",
    )
    group_membership: GoogleGroupMembership | None = Field(
        None, description="Send the names of these groups the user is in."
    )

    @field_validator("attribute_mapping")
    @classmethod
    def _sources_known(cls, mapping: dict[str, str]) -> dict[str, str]:
        for source in mapping.values():
            _check_source(source, GOOGLE_BASIC)
        return mapping


class GoogleWorkspaceMapping:
    """Send each mapped attribute's values for the user, exactly as stored."""

    name = "google_workspace"

    def __init__(self, config: GoogleWorkspaceConfig) -> None:
        self.config = config

    def map(self, subject: MappingInput) -> MappingResult:
        """Return one attribute per mapping with a value, and the group membership one."""
        attributes: list[SamlAttribute] = []
        trace: list[TraceStep] = []
        for app_attribute, source in self.config.attribute_mapping.items():
            values = _user_values(subject.user, source, GOOGLE_BASIC)
            rule = f"google_workspace: {app_attribute} ← {source}"
            if values:
                attributes.append(SamlAttribute(app_attribute, values))
                trace.append(
                    TraceStep(rule=rule, matched=f"user {subject.user.name}", produced=values)
                )
            else:
                trace.append(
                    TraceStep(
                        rule=rule,
                        matched=f"user {subject.user.name} has no value: attribute not sent",
                    )
                )
        membership = self.config.group_membership
        if membership is not None:
            rule = f"google_workspace: group membership → {membership.app_attribute}"
            sent: list[str] = []
            for group in subject.groups:
                chosen = group in membership.groups
                trace.append(
                    TraceStep(
                        rule=rule,
                        produced=(group,) if chosen else (),
                        matched=(
                            f"group {group!r} is selected"
                            if chosen
                            else f"group {group!r} is not among the selected groups"
                        ),
                    )
                )
                if chosen:
                    sent.append(group)
            if sent:
                attributes.append(SamlAttribute(membership.app_attribute, tuple(sent)))
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))


class JumpCloudConstant(BaseModel):
    """A Constant Attribute of the connector."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Service provider attribute name.")
    value: str = Field(description="Value, e.g. 'role-arn,provider-arn'.")


class JumpCloudAttributeMapping(BaseModel):
    """A User Attribute Mapping; several may share a name (one per Role source)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Service provider attribute name.")
    source: str = Field(
        description="JumpCloud attribute: email, username, firstname, lastname, "
        "displayname, or custom:NAME (the user's custom attribute and the "
        "group-inherited ones)."
    )

    @field_validator("source")
    @classmethod
    def _source_known(cls, source: str) -> str:
        return _check_source(source, JUMPCLOUD_BASIC)


class JumpCloudConfig(BaseModel):
    """JumpCloud's Amazon AWS IAM SSO connector."""

    model_config = ConfigDict(extra="forbid")

    bound_groups: list[str] | None = Field(
        None,
        description="User groups bound to the connector: only their members sign in, "
        "and only their custom attributes are inherited. Unset: every user, every group.",
    )
    constant_attributes: list[JumpCloudConstant] = Field(
        default_factory=list, description="Constant Attributes, sent to every bound user."
    )
    user_attribute_mappings: list[JumpCloudAttributeMapping] = Field(
        default_factory=lambda: [
            JumpCloudAttributeMapping(name=AwsAttribute.ROLE_SESSION_NAME.value, source="email")
        ],
        description="User Attribute Mapping.",
    )
    group_attributes: dict[str, dict[str, str | list[str]]] = Field(
        default_factory=dict,
        description="Group name → its custom attributes (name → value "
        "or values), inherited by the group's members.",
    )


class JumpCloudMapping:
    """Send constant attributes and mapped user or group-inherited attributes."""

    name = "jumpcloud"

    def __init__(self, config: JumpCloudConfig) -> None:
        self.config = config

    def _groups(self, subject: MappingInput, trace: list[TraceStep]) -> list[str] | None:
        """Return the user's groups bound to the connector; None when the user is not bound."""
        bound = self.config.bound_groups
        if bound is None:
            return list(subject.groups)
        found: list[str] = []
        for group in subject.groups:
            ok = group in bound
            trace.append(
                TraceStep(
                    rule=f"jumpcloud: bound user groups {bound}",
                    matched=f"group {group!r} is "
                    + ("bound" if ok else "not bound to the connector"),
                )
            )
            if ok:
                found.append(group)
        return found or None

    def _values(
        self, source: str, subject: MappingInput, groups: list[str], trace: list[TraceStep]
    ) -> tuple[str, ...]:
        values = list(_user_values(subject.user, source, JUMPCLOUD_BASIC))
        if not source.startswith("custom:"):
            return tuple(values)
        name = source.removeprefix("custom:")
        for group in groups:
            found = self.config.group_attributes.get(group, {}).get(name)
            inherited = (found,) if isinstance(found, str) else tuple(found or ())
            trace.append(
                TraceStep(
                    rule=f"jumpcloud: group-inherited {name}",
                    produced=inherited,
                    matched=f"group {group!r}" + ("" if inherited else f" has no {name}"),
                )
            )
            values += inherited
        return tuple(dict.fromkeys(values))

    def map(self, subject: MappingInput) -> MappingResult:
        """Return the connector's attributes for ``subject`` (none when not bound).

        Each constant and each mapping is its own Attribute element, so several named Role are
        sent side by side, not joined into one (a layout not checked against a captured
        JumpCloud assertion; reference §4 only says the mappings share the name).
        """
        trace: list[TraceStep] = []
        groups = self._groups(subject, trace)
        if groups is None:
            trace.append(
                TraceStep(
                    rule="jumpcloud: access",
                    matched=f"user {subject.user.name} is in no bound group: no SSO",
                )
            )
            return MappingResult(attributes=(), trace=tuple(trace))
        attributes: list[SamlAttribute] = []
        for constant in self.config.constant_attributes:
            attributes.append(SamlAttribute(constant.name, (constant.value,)))
            trace.append(
                TraceStep(
                    rule=f"jumpcloud: constant {constant.name}",
                    matched="always",
                    produced=(constant.value,),
                )
            )
        for mapping in self.config.user_attribute_mappings:
            values = self._values(mapping.source, subject, groups, trace)
            rule = f"jumpcloud: {mapping.name} ← {mapping.source}"
            trace.append(
                TraceStep(
                    rule=rule,
                    produced=values,
                    matched=(
                        f"user {subject.user.name}"
                        if values
                        else f"user {subject.user.name} has no value: attribute not sent"
                    ),
                )
            )
            if values:
                attributes.append(SamlAttribute(mapping.name, values))
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))
