"""Okta: the "AWS Account Federation" app (group filter → Role) and generic SAML group statements.

Semantics follow reference/idp-mappings.md §2: Okta turns ``(?{{name}}`` into a Java named group
and matches the Group Filter as a Java regex — case-sensitive, ASCII ``\\w``/``\\d``, and
``find()`` or ``matches()`` (undocumented, so ``match`` chooses). The Role Value Pattern is plain
``${name}`` templating, not a regex replacement, so one group gives at most one value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idp.directory import User
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.mapping.java_regex import compile_java_regex, translate_java_regex
from idp.saml.builder import RoleOrder, RolePair, SamlAttribute
from idp.saml.constants import ATTRNAME_FORMAT_BASIC, ATTRNAME_FORMAT_URI, AwsAttribute
from idp.templates import TemplateError, render

DEFAULT_GROUP_FILTER = r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
"""Okta's default Group Filter, for groups named ``aws#[account alias]#[role name]#[account #]``."""

ATTRNAME_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
NAME_FORMATS = {
    "basic": ATTRNAME_FORMAT_BASIC,
    "uri_reference": ATTRNAME_FORMAT_URI,
    "unspecified": ATTRNAME_FORMAT_UNSPECIFIED,
}
NameFormatName = Literal["basic", "uri_reference", "unspecified"]
MatchMode = Literal["search", "fullmatch"]

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def fill_pattern(pattern: str, captured: dict[str, str | None]) -> str:
    """Fill ``${name}`` in a Role Value Pattern from the filter's named groups."""
    return _PLACEHOLDER.sub(lambda m: captured.get(m.group(1)) or "", pattern)


class OktaAwsConfig(BaseModel):
    """Okta's "AWS Account Federation" app: Sign On → Advanced Sign-on Settings."""

    model_config = ConfigDict(extra="forbid")

    identity_provider_arn: str | None = Field(
        None,
        description="Identity Provider ARN (single-account mode): the IAM SAML provider "
        "that the roles assigned in user_roles / group_roles trust.",
    )
    use_group_mapping: bool | None = Field(
        None,
        description="Use Group Mapping: derive roles from group names with group_filter "
        "and role_value_pattern. Unset: on exactly when role_value_pattern is given.",
    )
    app_filter: list[str] | None = Field(
        None,
        description="App Filter: group sources whose groups may drive the mapping "
        "(okta, active_directory, ...; a comma list as Okta shows it is accepted). "
        "Unset or empty: every source.",
    )
    group_sources: dict[str, str] = Field(
        default_factory=dict,
        description="Group name → the Okta source it comes from "
        "(active_directory, okta, ...), for the App Filter.",
    )
    default_group_source: str = Field(
        "okta", description="Source of the groups that group_sources does not list."
    )
    group_filter: str = Field(
        DEFAULT_GROUP_FILTER,
        description="Group Filter: a Java regex with Okta's "
        "(?{{name}}...) named groups; case-sensitive unless it says (?i).",
    )
    role_value_pattern: str | None = Field(
        None,
        description="Role Value Pattern: each matching group gives this text with "
        "${name} replaced by the filter's group 'name', e.g. "
        "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}.",
    )
    match: MatchMode = Field(
        "search",
        description="How the filter is applied, which Okta does not document: "
        "'search' (Java find(); an unanchored filter matches inside a name) or 'fullmatch' "
        "(Java matches()).",
    )
    join_all_roles: bool = Field(
        False,
        description="Join all roles (single-account mode): on, the union of the user's "
        "own assignment and every group assignment; off, the user's own assignment, else the "
        "first matching group assignment in group_roles order.",
    )
    user_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="User name → SAML User Roles of the user's own app "
        "assignment (role names or role ARNs).",
    )
    group_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name → SAML User Roles of that group's app "
        "assignment, highest priority first.",
    )
    role_order: Literal["provider-first", "role-first"] = Field(
        "provider-first",
        description="ARN order of single-account Role values (unverified; "
        "Okta's group-mapping pattern is provider-first).",
    )
    session_duration: int | None = Field(
        None,
        ge=900,
        le=43200,
        description="Session Duration in seconds, sent as "
        "SessionDuration; unset: not sent by the app.",
    )
    username_format: Literal[
        "okta_username", "okta_username_prefix", "email", "email_prefix", "upn", "custom", "none"
    ] = Field(
        "okta_username",
        description="Application username format, sent as RoleSessionName "
        "(unverified); okta_username is the directory user name.",
    )
    custom_username: str | None = Field(
        None, description="Template for username_format 'custom', e.g. '{attr:employeeId}'."
    )

    @field_validator("app_filter", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """Accept Okta's comma-separated App Filter text as well as a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def group_mapping(self) -> bool:
        """Return whether Use Group Mapping is in effect."""
        if self.use_group_mapping is None:
            return self.role_value_pattern is not None
        return self.use_group_mapping

    @model_validator(mode="after")
    def _consistent(self) -> OktaAwsConfig:
        if self.group_mapping:
            if self.role_value_pattern is None:
                raise ValueError("use_group_mapping needs a role_value_pattern")
            names = set(compile_java_regex(self.group_filter).groupindex)
            unknown = [n for n in _PLACEHOLDER.findall(self.role_value_pattern) if n not in names]
            if unknown:
                raise ValueError(
                    f"role_value_pattern uses ${{{unknown[0]}}} but group_filter has no group "
                    f"(?{{{{{unknown[0]}}}}}...) (it has: {', '.join(sorted(names)) or 'none'})"
                )
        elif (self.user_roles or self.group_roles) and self.identity_provider_arn is None:
            raise ValueError(
                "user_roles / group_roles need identity_provider_arn (single-account "
                "mode); for group names, set role_value_pattern"
            )
        if self.username_format == "custom" and not self.custom_username:
            raise ValueError("username_format 'custom' needs custom_username")
        return self


def okta_username(user: User, username_format: str, custom: str | None) -> str | None:
    """Return the app username Okta sends for ``user``, or None when it has none."""
    if username_format == "custom" and custom is not None:
        try:
            return render(custom, user)
        except TemplateError:
            return None
    value = {
        "okta_username": user.name,
        "okta_username_prefix": user.name,
        "email": user.email,
        "email_prefix": user.email,
        "upn": user.upn,
    }.get(username_format)
    if value and username_format.endswith("_prefix"):
        return value.split("@", 1)[0]
    return value or None


class OktaAwsMapping:
    """Compute the Role, RoleSessionName and SessionDuration Okta's AWS app sends."""

    name = "okta_aws"

    def __init__(self, config: OktaAwsConfig) -> None:
        self.config = config
        self.group_filter = compile_java_regex(config.group_filter)
        self.apply_filter = (
            self.group_filter.search if config.match == "search" else self.group_filter.fullmatch
        )
        """Apply the Group Filter to a group name the way ``match`` says."""
        self._sources = {s.lower() for s in config.app_filter or ()}

    def map(self, subject: MappingInput) -> MappingResult:
        """Return the attributes for ``subject``, tracing every group and assignment."""
        trace: list[TraceStep] = []
        if self.config.group_mapping:
            roles = self._group_mapping(subject, trace)
        else:
            roles = self._assignments(subject, trace)
        attributes: list[SamlAttribute] = []
        if roles:
            attributes.append(SamlAttribute(AwsAttribute.ROLE, tuple(dict.fromkeys(roles))))
        session_name = okta_username(
            subject.user, self.config.username_format, self.config.custom_username
        )
        if self.config.username_format == "none":
            why = "username format 'none': no RoleSessionName"
        elif session_name:
            why = f"user {subject.user.name}"
        else:
            why = f"user {subject.user.name} has no value for it: no RoleSessionName"
        trace.append(
            TraceStep(
                rule=f"okta_aws: application username ({self.config.username_format})",
                matched=why,
                produced=(session_name,) if session_name else (),
            )
        )
        if session_name:
            attributes.append(SamlAttribute(AwsAttribute.ROLE_SESSION_NAME, (session_name,)))
        if self.config.session_duration is not None:
            attributes.append(
                SamlAttribute(AwsAttribute.SESSION_DURATION, (str(self.config.session_duration),))
            )
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))

    def source_of(self, group: str) -> str:
        """Return the Okta source a group comes from."""
        return self.config.group_sources.get(group, self.config.default_group_source)

    def _group_mapping(self, subject: MappingInput, trace: list[TraceStep]) -> list[str]:
        pattern = self.config.role_value_pattern or ""
        rule = f"okta_aws: group filter {self.config.group_filter!r} ({self.config.match})"
        roles: list[str] = []
        for group in subject.groups:
            source = self.source_of(group)
            if self._sources and source.lower() not in self._sources:
                trace.append(
                    TraceStep(
                        rule=f"okta_aws: app filter {self.config.app_filter}",
                        matched=f"group {group!r} skipped: its source {source!r} "
                        "is not in the App Filter",
                    )
                )
                continue
            found = self.apply_filter(group)
            if found is None:
                trace.append(TraceStep(rule=rule, matched=f"group {group!r} does not match"))
                continue
            captured = found.groupdict()
            value = fill_pattern(pattern, captured)
            roles.append(value)
            shown = ", ".join(f"{k}={v!r}" for k, v in captured.items())
            trace.append(
                TraceStep(
                    rule=rule, matched=f"group {group!r} matches ({shown})", produced=(value,)
                )
            )
        if not subject.groups:
            trace.append(TraceStep(rule=rule, matched="the user is in no group"))
        return roles

    def _assignments(self, subject: MappingInput, trace: list[TraceStep]) -> list[str]:
        config = self.config
        assignments: list[tuple[str, list[str]]] = []
        own = config.user_roles.get(subject.user.name)
        if own is not None:
            assignments.append((f"user {subject.user.name}", own))
        assignments += [
            (f"group {g!r}", roles)
            for g, roles in config.group_roles.items()
            if g in subject.groups
        ]
        if not config.join_all_roles:
            for label, _ in assignments[1:]:
                trace.append(
                    TraceStep(
                        rule="okta_aws: join all roles is off",
                        matched=f"{label} assignment ignored: {assignments[0][0]} assignment wins",
                    )
                )
            assignments = assignments[:1]
        if not assignments:
            trace.append(
                TraceStep(
                    rule="okta_aws: SAML User Roles",
                    matched="the user has no app assignment with roles",
                )
            )
        values: list[str] = []
        for label, entries in assignments:
            produced = tuple(self._role_value(entry) for entry in entries)
            values += produced
            trace.append(
                TraceStep(
                    rule="okta_aws: SAML User Roles",
                    matched=f"{label} assignment",
                    produced=produced,
                )
            )
        return values

    def _role_value(self, entry: str) -> str:
        provider = self.config.identity_provider_arn or ""
        if entry.startswith("arn:"):
            role = entry
        else:
            head = provider.split(":saml-provider/", 1)[0]
            role = f"{head}:role/{entry}"
        return RolePair(role, provider).value(RoleOrder(self.config.role_order))


# --- generic SAML app (App Integration Wizard) ---------------------------------------------


class AttributeStatement(BaseModel):
    """An Attribute Statement; the value is a fedharness template, not Okta Expression Language."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Attribute Name.")
    name_format: NameFormatName = Field("basic", description="Name format (Okta's default: Basic).")
    value: str = Field(description="Value template, e.g. '{email}' or '{attr:department}'.")


class GroupAttributeStatement(BaseModel):
    """A Group Attribute Statement: the names of the user's groups that pass the filter."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Attribute Name.")
    name_format: NameFormatName = Field("basic", description="Name format (Okta's default: Basic).")
    filter: Literal["starts_with", "equals", "contains", "matches_regex"] = Field(
        description="Filter: Starts with / Equals / Contains / Matches regex (whole name, Java)."
    )
    value: str = Field(max_length=1024, description="Text or regex the filter compares with.")
    ignore_case: bool = Field(
        False, description="Compare without case (Okta's case handling is undocumented)."
    )

    @model_validator(mode="after")
    def _regex_compiles(self) -> GroupAttributeStatement:
        if self.filter == "matches_regex":
            compile_java_regex(self.value)
        return self

    def matcher(self) -> Callable[[str], bool]:
        """Return a predicate telling whether a group name passes this statement's filter."""
        if self.filter == "matches_regex":
            flags = re.IGNORECASE if self.ignore_case else 0
            python, base = translate_java_regex(self.value, exact_end_anchors=True)
            regex = re.compile(python, base | flags)
            return lambda group: regex.fullmatch(group) is not None
        fold: Callable[[str], str] = str.casefold if self.ignore_case else str
        wanted = fold(self.value)
        test: Callable[[str], bool] = {
            "starts_with": lambda g: g.startswith(wanted),
            "equals": lambda g: g == wanted,
            "contains": lambda g: wanted in g,
        }[self.filter]
        return lambda group: test(fold(group))


class OktaSamlGroupsConfig(BaseModel):
    """Okta's generic SAML 2.0 app: attribute and group attribute statements, sent unchanged."""

    model_config = ConfigDict(extra="forbid")

    attribute_statements: list[AttributeStatement] = Field(
        default_factory=list, description="Attribute Statements."
    )
    group_attribute_statements: list[GroupAttributeStatement] = Field(
        default_factory=list, description="Group Attribute Statements."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> OktaSamlGroupsConfig:
        names = [s.name for s in self.attribute_statements]
        names += [s.name for s in self.group_attribute_statements]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"attribute name {twice[0]!r} is used twice; Okta wants names "
                "unique across attribute and group attribute statements"
            )
        return self


class OktaSamlGroupsMapping:
    """Send matching group names as they are: a generic app cannot build ARN pairs (§2.2)."""

    name = "okta_saml_groups"

    def __init__(self, config: OktaSamlGroupsConfig) -> None:
        self.config = config
        self._matchers = [(s, s.matcher()) for s in config.group_attribute_statements]

    def map(self, subject: MappingInput) -> MappingResult:
        """Return one attribute per statement that has a value for ``subject``."""
        attributes: list[SamlAttribute] = []
        trace: list[TraceStep] = []
        for plain in self.config.attribute_statements:
            try:
                value = render(plain.value, subject.user)
            except TemplateError as exc:
                trace.append(
                    TraceStep(
                        rule=f"okta_saml_groups: {plain.name}", matched=f"not sent: {exc.message}"
                    )
                )
                continue
            attributes.append(SamlAttribute(plain.name, (value,), NAME_FORMATS[plain.name_format]))
            trace.append(
                TraceStep(
                    rule=f"okta_saml_groups: {plain.name}",
                    matched=f"template {plain.value!r}",
                    produced=(value,),
                )
            )
        for statement, passes in self._matchers:
            rule = f"okta_saml_groups: {statement.name} ({statement.filter} {statement.value!r})"
            chosen: list[str] = []
            for group in subject.groups:
                ok = passes(group)
                trace.append(
                    TraceStep(
                        rule=rule,
                        produced=(group,) if ok else (),
                        matched=(
                            f"group {group!r} passes" if ok else f"group {group!r} does not pass"
                        ),
                    )
                )
                if ok:
                    chosen.append(group)
            if chosen:
                attributes.append(
                    SamlAttribute(
                        statement.name, tuple(chosen), NAME_FORMATS[statement.name_format]
                    )
                )
            else:
                trace.append(TraceStep(rule=rule, matched="no group passes: attribute not sent"))
        return MappingResult(attributes=tuple(attributes), trace=tuple(trace))
