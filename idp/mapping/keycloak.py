"""Keycloak: client roles named as ARN pairs, sent by a role-list protocol mapper.

Reference: reference/idp-mappings.md §4 (Keycloak row) and §8.9. A user's roles come from realm
default roles, their own role mappings and their groups' (a subgroup inherits its parents'),
expanded through composite roles. With Full Scope Allowed on (Keycloak's default) every one of
them is sent, including ``offline_access`` and ``uma_authorization``; off, only the client's own
roles and the realm roles in its scope. The role-list mapper sends one Attribute with every role
when Single Role Attribute is on, and one Attribute element per role when it is off (the default).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idp.directory import User
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.mapping.okta import NAME_FORMATS, NameFormatName
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute

UserProperty = Literal["username", "email", "firstName", "lastName"]


class KeycloakRole(BaseModel):
    """A realm or client role; a composite role brings the roles it lists."""

    model_config = ConfigDict(extra="forbid")

    composites: list[str] = Field(
        default_factory=list, description="Roles (realm or client) this role includes."
    )
    description: str | None = Field(None, description="Description.")


class RoleListMapper(BaseModel):
    """The ``saml-role-list-mapper`` protocol mapper."""

    model_config = ConfigDict(extra="forbid")

    attribute_name: str = Field(
        AwsAttribute.ROLE.value,
        description="Role attribute name (Keycloak's built-in role_list mapper says 'Role').",
    )
    friendly_name: str | None = Field(None, description="Friendly Name.")
    name_format: NameFormatName = Field("basic", description="SAML Attribute NameFormat.")
    single: bool = Field(
        False,
        description="Single Role Attribute: on, one Attribute with a "
        "value per role; off (Keycloak's default), one Attribute per role.",
    )


class KeycloakConfig(BaseModel):
    """A Keycloak realm's roles and groups, and the SAML client for AWS with its mappers."""

    model_config = ConfigDict(extra="forbid")

    client_roles: dict[str, KeycloakRole] = Field(
        default_factory=dict,
        description="The client's roles by name; for AWS the name is the "
        "Role value, e.g. 'arn:aws:iam::…:role/Admin,arn:aws:iam::…:saml-provider/keycloak'.",
    )
    realm_roles: dict[str, KeycloakRole] = Field(
        default_factory=lambda: {
            "offline_access": KeycloakRole(),
            "uma_authorization": KeycloakRole(),
        },
        description="Realm roles by name.",
    )
    default_roles: list[str] = Field(
        default_factory=lambda: ["offline_access", "uma_authorization"],
        description="Roles every user of the realm has (default-roles-<realm>).",
    )
    user_roles: dict[str, list[str]] = Field(
        default_factory=dict, description="User name → roles mapped to the user."
    )
    group_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name → roles mapped to the group; members of "
        "its subgroups (directory groups nested in it) have them too.",
    )
    full_scope_allowed: bool = Field(
        True,
        description="Full Scope Allowed: on, every role of the user is sent; off, only "
        "the client's own roles and scope_realm_roles.",
    )
    scope_realm_roles: list[str] = Field(
        default_factory=list,
        description="Realm roles in the client's scope (Full Scope Allowed off).",
    )
    role_name_mappers: dict[str, str] = Field(
        default_factory=dict, description="Role Name Mappers: role → name it is sent as."
    )
    role_list: RoleListMapper | None = Field(
        default_factory=RoleListMapper, description="The role-list mapper; null: none."
    )
    user_properties: dict[str, UserProperty] = Field(
        default_factory=dict,
        description="User Property mappers: attribute name → property, "
        "e.g. RoleSessionName → username (Keycloak stores username and email in lower case).",
    )
    hardcoded_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Hardcoded attribute mappers: name → value, e.g. SessionDuration.",
    )

    @field_validator("client_roles", "realm_roles", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        """Let a role with nothing after its name (``Admin:``) mean a plain role."""
        if isinstance(value, dict):
            return {key: {} if entry is None else entry for key, entry in value.items()}
        return value

    @model_validator(mode="after")
    def _roles_exist(self) -> KeycloakConfig:
        clash = sorted(set(self.client_roles) & set(self.realm_roles))
        if clash:
            raise ValueError(
                f"{clash[0]!r} is both a realm role and a client role; "
                "fedharness needs the names to differ"
            )
        known = {**self.realm_roles, **self.client_roles}
        uses = [("default_roles", r) for r in self.default_roles]
        uses += [("scope_realm_roles", r) for r in self.scope_realm_roles]
        uses += [(f"user_roles[{u!r}]", r) for u, rs in self.user_roles.items() for r in rs]
        uses += [(f"group_roles[{g!r}]", r) for g, rs in self.group_roles.items() for r in rs]
        uses += [(f"composites of {n!r}", r) for n, role in known.items() for r in role.composites]
        for where, name in uses:
            if name not in known:
                raise ValueError(f"{where}: no realm or client role is called {name!r}")
        return self


class KeycloakMapping:
    """Send the user's in-scope roles through the role-list mapper, plus property mappers."""

    name = "keycloak"

    def __init__(self, config: KeycloakConfig) -> None:
        self.config = config
        self._roles = {**config.realm_roles, **config.client_roles}
        self._scope = set(config.client_roles) | set(
            self._expand([(r, "scope") for r in config.scope_realm_roles], [])
        )

    def _expand(self, granted: list[tuple[str, str]], trace: list[TraceStep]) -> dict[str, str]:
        """Return every role reached from ``granted`` (role, how) through composites."""
        reached: dict[str, str] = {}
        queue = list(granted)
        while queue:
            role, how = queue.pop(0)
            if role in reached:
                continue
            reached[role] = how
            trace.append(TraceStep(rule=f"keycloak: role {role!r}", matched=how))
            queue += [
                (c, f"composite role {role!r} includes it") for c in self._roles[role].composites
            ]
        return reached

    def roles(self, subject: MappingInput, trace: list[TraceStep]) -> list[str]:
        """Return the names of the roles sent for ``subject``, in the order they were found."""
        config = self.config
        granted = [(r, "realm default role") for r in config.default_roles]
        granted += [
            (r, f"mapped to user {subject.user.name}")
            for r in config.user_roles.get(subject.user.name, ())
        ]
        for group in subject.groups:
            mapped = config.group_roles.get(group)
            if mapped is None:
                trace.append(
                    TraceStep(
                        rule="keycloak: group role mappings",
                        matched=f"group {group!r} has no role mappings",
                    )
                )
                continue
            via = "" if group in subject.direct_groups else " (inherited by a subgroup)"
            granted += [(r, f"mapped to group {group!r}{via}") for r in mapped]
        sent: list[str] = []
        for role in self._expand(granted, trace):
            if not config.full_scope_allowed and role not in self._scope:
                trace.append(
                    TraceStep(
                        rule="keycloak: client scope (Full Scope Allowed off)",
                        matched=f"role {role!r} is not in the client's scope",
                    )
                )
                continue
            name = config.role_name_mappers.get(role, role)
            renamed = f" renamed by a role name mapper to {name!r}" if name != role else ""
            trace.append(
                TraceStep(
                    rule="keycloak: role list",
                    produced=(name,),
                    matched=f"role {role!r} is in scope{renamed}",
                )
            )
            sent.append(name)
        return list(dict.fromkeys(sent))

    def map(self, subject: MappingInput) -> MappingResult:
        """Return the role-list attribute(s), user-property and hardcoded attributes."""
        trace: list[TraceStep] = []
        attributes: list[SamlAttribute] = []
        mapper = self.config.role_list
        roles = self.roles(subject, trace)
        if mapper is None:
            trace.append(
                TraceStep(
                    rule="keycloak: role list", matched="no role-list mapper: roles are not sent"
                )
            )
        elif roles:
            name_format = NAME_FORMATS[mapper.name_format]
            groups = [tuple(roles)] if mapper.single else [(role,) for role in roles]
            attributes += [
                SamlAttribute(mapper.attribute_name, values, name_format, mapper.friendly_name)
                for values in groups
            ]
        for attribute, prop in self.config.user_properties.items():
            value = user_property(subject.user, prop)
            trace.append(
                TraceStep(
                    rule=f"keycloak: user property {prop} → {attribute}",
                    matched=f"user {subject.user.name}"
                    if value
                    else f"user {subject.user.name} has no {prop}: not sent",
                    produced=(value,) if value else (),
                )
            )
            if value:
                attributes.append(SamlAttribute(attribute, (value,)))
        for attribute, value in self.config.hardcoded_attributes.items():
            attributes.append(SamlAttribute(attribute, (value,)))
            trace.append(
                TraceStep(
                    rule=f"keycloak: hardcoded attribute {attribute}",
                    matched="always",
                    produced=(value,),
                )
            )
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))


def user_property(user: User, prop: UserProperty) -> str | None:
    """Return a Keycloak user property; username and email are lower case in Keycloak."""
    if prop == "username":
        return user.name.lower()
    if prop == "email":
        return user.email.lower() if user.email else None
    return user.given_name if prop == "firstName" else user.surname
