"""Warnings for the mapping mistakes a configuration makes possible (reference §7, ranked).

Two kinds of check: on the configuration itself (an unanchored filter, a role name the filter
cannot capture, double escaping), and on what the engine would send for every user of the
directory (whitespace, malformed pairs, providers or roles missing from the declared AWS world,
responses past the size limit). Pure functions: nothing is read from disk or the network.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from idp.directory import Directory
from idp.mapping import adfs_parser as adfs_ast
from idp.mapping.adfs import AdfsMapping, AdfsMappingConfig
from idp.mapping.base import MappingEngine, MappingInput
from idp.mapping.custom_attribute import (
    GoogleWorkspaceConfig,
    GoogleWorkspaceMapping,
    JumpCloudConfig,
    JumpCloudMapping,
)
from idp.mapping.entra import EntraAwsConfig, EntraAwsMapping
from idp.mapping.explicit import ExplicitMapping, ExplicitMappingConfig
from idp.mapping.java_regex import capture_body, translate_java_regex
from idp.mapping.keycloak import KeycloakConfig, KeycloakMapping
from idp.mapping.okta import (
    DEFAULT_GROUP_FILTER,
    OktaAwsConfig,
    OktaAwsMapping,
    OktaSamlGroupsConfig,
    OktaSamlGroupsMapping,
)
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute

SAML_ASSERTION_LIMIT = 100_000
"""Characters of base64 STS takes as SAMLAssertion (botocore STS model; aws-sts-saml.md §1.1)."""
ENTRA_IMPORT_LIMIT = 240
"""Entra's role import refuses a combined ARN length of 240 or more (reference §3.1)."""

WHY: dict[str, str] = {
    "role-value-whitespace": "aws-adfs, gimme-aws-creds and aws-google-auth do not trim it",
    "malformed-role-value": "not one role ARN and one saml-provider ARN: AWS rejects the whole "
    "response as an invalid SAML response",
    "bad-account": "the account must be the same 12-digit id in both ARNs",
    "bad-role-name": "IAM role names are 1-64 of [a-zA-Z0-9+=,.@_-]",
    "unknown-provider": "AWS answers 'Specified provider doesn't exist'",
    "unknown-role": "the role is not declared in the AWS world",
    "role-session-name-invalid": "RoleSessionName must match [a-zA-Z_0-9+=,.@-]{2,64}",
    "attribute-name-case": "AWS attribute names are case-sensitive",
    "multiple-role-attributes": "one Role Attribute element per role instead of one Attribute "
    "with many values (reference §8.9)",
    "response-too-large": f"past STS's {SAML_ASSERTION_LIMIT:,}-character SAMLAssertion limit",
    "okta-group-mapping-off": "Use Group Mapping is off: Okta ignores the Group Filter and "
    "Role Value Pattern",
    "double-escaped": "'$${' or '\\\\' left over from Terraform or JSON escaping: Okta reads "
    "them literally",
    "unanchored-pattern": "the pattern is not anchored with ^ (and $), and it is applied with a "
    "search: it also matches inside longer names, e.g. 'x' + a real group",
    "case-insensitive-filter": "the Group Filter ignores case but ${role} keeps the group's "
    "case, and IAM role names are case-sensitive",
    "role-capture-allows-comma": "a group such as aws_123456789012_Admin,Evil gives a "
    "three-field Role value",
    "role-name-unmatchable": "no group name the Group Filter accepts yields this role",
    "case-ignored-group": "the group looks like an AWS group but the case-sensitive Group "
    "Filter ignores it",
    "look-alike-group": "the Group Filter matches only part of this name: a look-alike group "
    "grants a role",
    "app-filter-excludes": "the group matches the Group Filter but its source is not in the "
    "App Filter, so it grants nothing",
    "okta-join-all-roles-off": "Join all roles is off: only the first assignment counts",
    "generic-app-role": "a generic SAML app sends group names unchanged; AWS needs "
    "'role-arn,provider-arn' values (reference §2.2)",
    "entra-import-limit": f"Entra's role import refuses {ENTRA_IMPORT_LIMIT} characters or more",
    "entra-nested-group": "Entra app assignment ignores nested groups",
    "case-mismatch": "the condition ignores case but the RegExReplace pattern does not: a "
    "group such as aws-Dev passes and is sent untransformed, and AWS rejects the whole response",
    "unanchored-replace": "RegExReplace replaces every match: a group with the prefix twice "
    "(AWS-Dev-AWS-Admin) gives a garbage ARN",
    "keycloak-full-scope": "Full Scope Allowed is on: realm roles such as offline_access go "
    "into the Role attribute and make the response invalid",
    "mapping-group-without-members": "no user of the directory is in this group, directly or "
    "through nested groups: a misspelled group name grants nobody the role",
}
"""Every warning code and why it matters; a warning's message is its detail and this text."""

_EXPLAINED_BY_CONFIG = frozenset({"multiple-role-attributes"})
"""Output warnings left out when the configuration's warning already says the same."""
_RESPONSE_BASE = 3_900
"""Bytes of a signed response with no attributes (measured with idp.saml.builder)."""
_STATEMENT, _ATTRIBUTE, _VALUE = 51, 53, 64
"""Bytes the AttributeStatement, each Attribute and each AttributeValue add besides their text."""
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::([^:]*):role/(.+)", re.ASCII)
_PROVIDER_ARN = re.compile(r"arn:aws[\w-]*:iam::([^:]*):saml-provider/(.+)", re.ASCII)

ENGINES: dict[str, tuple[type[BaseModel], Callable[[Any], MappingEngine]]] = {
    "explicit": (ExplicitMappingConfig, ExplicitMapping),
    "okta_aws": (OktaAwsConfig, OktaAwsMapping),
    "okta_saml_groups": (OktaSamlGroupsConfig, OktaSamlGroupsMapping),
    "entra": (EntraAwsConfig, EntraAwsMapping),
    "keycloak": (KeycloakConfig, KeycloakMapping),
    "google_workspace": (GoogleWorkspaceConfig, GoogleWorkspaceMapping),
    "jumpcloud": (JumpCloudConfig, JumpCloudMapping),
}
"""Engine name → its config model and engine class, for the engines this module knows."""


@dataclass(frozen=True)
class LintWarning:
    """One possible mistake: a stable code (a key of WHY), what goes wrong, and where."""

    code: str
    message: str
    where: str


def _warn(code: str, where: str, detail: str = "") -> LintWarning:
    return LintWarning(code, f"{detail}: {WHY[code]}" if detail else WHY[code], where)


@dataclass
class AwsWorldIndex:
    """The declared AWS world's role and SAML provider ARNs, indexed by account."""

    roles: set[str] = field(default_factory=set)
    providers: dict[str, set[str]] = field(default_factory=dict)
    role_names: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, arns: Iterable[str]) -> AwsWorldIndex:
        """Index role ARNs and saml-provider ARNs; anything else is ignored."""
        world = cls()
        for arn in arns:
            if (role := _ROLE_ARN.fullmatch(arn)) is not None:
                world.roles.add(arn)
                world.role_names.setdefault(role.group(1), set()).add(role.group(2))
            elif (provider := _PROVIDER_ARN.fullmatch(arn)) is not None:
                world.providers.setdefault(provider.group(1), set()).add(provider.group(2))
        return world


def estimate_response_chars(attributes: Iterable[SamlAttribute]) -> int:
    """Estimate the base64 length of a signed response carrying ``attributes``."""
    size = _RESPONSE_BASE
    for index, attribute in enumerate(attributes):
        size += (_STATEMENT if index == 0 else 0) + _ATTRIBUTE + len(attribute.name)
        size += len(attribute.name_format or "") + len(attribute.friendly_name or "")
        size += sum(_VALUE + len(value.encode()) for value in attribute.values)
    return 4 * math.ceil(size / 3)


def lint(
    config: BaseModel,
    engine_name: str,
    directory: Directory,
    aws_world_role_arns: Iterable[str] | None = None,
    *,
    engine: MappingEngine | None = None,
) -> list[LintWarning]:
    """Return the warnings for ``config`` of engine ``engine_name`` over ``directory``'s users.

    ``aws_world_role_arns`` holds the declared world's role ARNs *and* SAML provider ARNs (None:
    no world, skip those checks). ``engine`` runs another engine (ADFS) for the output checks;
    for ADFS it also supplies the parsed rules, whose condition / RegExReplace pairs are checked
    for reference §7 mistakes #3 and #5 (:func:`regex_pair_warnings`).
    """
    known = ENGINES.get(engine_name)
    if engine is None and known is not None:
        engine = known[1](config)
    world = None if aws_world_role_arns is None else AwsWorldIndex.of(aws_world_role_arns)
    warnings: list[LintWarning] = []
    if isinstance(config, OktaAwsConfig):
        warnings += _okta(config, directory, world)
    elif isinstance(config, OktaSamlGroupsConfig):
        where = "okta_saml_groups.group_attribute_statements[{}]"
        statements = enumerate(config.group_attribute_statements)
        warnings += [
            _warn("generic-app-role", where.format(index))
            for index, s in statements
            if s.name == AwsAttribute.ROLE
        ]
    elif isinstance(config, EntraAwsConfig):
        warnings += _entra(config, directory)
    elif isinstance(config, KeycloakConfig) and config.role_list is not None:
        if config.full_scope_allowed and (config.default_roles or config.realm_roles):
            warnings.append(_warn("keycloak-full-scope", "keycloak.full_scope_allowed"))
        if not config.role_list.single:
            warnings.append(_warn("multiple-role-attributes", "keycloak.role_list.single"))
    elif isinstance(config, AdfsMappingConfig):
        warnings += _adfs(config, engine)
    elif isinstance(config, ExplicitMappingConfig):
        warnings += _explicit(config, directory)
    if engine is not None:
        said = {w.code for w in warnings} & _EXPLAINED_BY_CONFIG
        warnings += [w for w in _outputs(engine, directory, world) if w.code not in said]
    return list(dict.fromkeys(warnings))


# --- output checks ------------------------------------------------------------------------------


def _outputs(
    engine: MappingEngine, directory: Directory, world: AwsWorldIndex | None
) -> list[LintWarning]:
    """Run the engine for every user and check what it would send."""
    found: dict[tuple[str, str], list[str]] = {}
    aws_names = {a.value.lower(): a.value for a in AwsAttribute}
    for user in directory.users():
        groups, direct = directory.groups_of(user), directory.direct_groups_of(user)
        result = engine.map(MappingInput(user=user, groups=groups, direct_groups=direct))
        roles = result.values(AwsAttribute.ROLE)
        problems = [p for value in roles for p in role_value_problems(value, world)]
        elements = [a for a in result.attributes if a.name == AwsAttribute.ROLE]
        if len(elements) > 1:
            problems.append(("multiple-role-attributes", f"{len(elements)} Role Attributes"))
        for value in result.values(AwsAttribute.ROLE_SESSION_NAME):
            if not _SESSION_NAME.fullmatch(value):
                problems.append(("role-session-name-invalid", f"RoleSessionName {value!r}"))
        for attribute in result.attributes:
            exact = aws_names.get(attribute.name.lower(), attribute.name)
            if exact != attribute.name:
                problems.append(("attribute-name-case", f"{attribute.name!r} is not {exact!r}"))
        size = estimate_response_chars(result.attributes)
        if size > SAML_ASSERTION_LIMIT:
            detail = f"about {size:,} base64 characters ({len(roles)} Role values)"
            problems.append(("response-too-large", detail))
        for code, detail in problems:
            found.setdefault((code, detail), []).append(user.name)
    warnings: list[LintWarning] = []
    for (code, detail), users in found.items():
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        warnings.append(_warn(code, f"{engine.name}: user {users[0]}{more}", detail))
    return warnings


def role_value_problems(value: str, world: AwsWorldIndex | None = None) -> list[tuple[str, str]]:
    """Return (code, detail) for each thing wrong with one Role attribute value."""
    problems: list[tuple[str, str]] = []
    if any(char.isspace() for char in value):
        problems.append(("role-value-whitespace", f"Role value {value!r} contains whitespace"))
    raw = value.split(",")
    fields = [part.strip() for part in raw]
    roles = [m for m in map(_ROLE_ARN.fullmatch, fields) if m]
    providers = [m for m in map(_PROVIDER_ARN.fullmatch, fields) if m]
    if len(fields) != 2 or len(roles) != 1 or len(providers) != 1:
        detail = f"Role value {value!r} has {len(fields)} comma-separated field(s)"
        return [*problems, ("malformed-role-value", detail)]
    role, provider = roles[0], providers[0]
    if not re.fullmatch(r"\d{12}", role.group(1)) or role.group(1) != provider.group(1):
        problems.append(("bad-account", f"Role value {value!r}"))
    role_name = raw[fields.index(role.group(0))].split(":role/", 1)[1].rsplit("/", 1)[-1]
    if not _ROLE_NAME.fullmatch(role_name):
        problems.append(("bad-role-name", f"role name {role_name!r}"))
    if world is None:
        return problems
    account, name = provider.group(1), provider.group(2)
    declared = world.providers.get(account, set())
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        detail = f"SAML provider {name!r} does not exist in account {account} (declared: {known})"
        problems.append(("unknown-provider", detail))
    if role.group(0) not in world.roles:
        role_account, role_path = role.groups()
        near = [n for n in world.role_names.get(role_account, ()) if n.lower() == role_path.lower()]
        hint = f" (role names are case-sensitive: did you mean {near[0]!r}?)" if near else ""
        problems.append(("unknown-role", f"role {role.group(0)}{hint}"))
    return problems


# --- configuration checks -----------------------------------------------------------------------


def regex_pair_warnings(condition: str, replace: str, where: str) -> list[LintWarning]:
    """Check an ADFS rule's ``Value =~ condition`` against its ``RegExReplace`` pattern.

    Both are .NET patterns as written in the rule; only their leading ``(?i…)`` options and
    ``^`` anchors are read, which is how the mistakes of reference §7 (#3, #4, #5) show. The
    messages quote them as the rule does (an ADFS string has no escapes).
    """
    warnings: list[LintWarning] = []
    options = re.compile(r"^\(\?([imnsx]*)(?:-[imnsx]*)?\)")
    bare = {text: options.sub("", text) for text in (condition, replace)}
    ignores_case = {
        text: "i" in (m.group(1) if (m := options.match(text)) else "")
        for text in (condition, replace)
    }
    if ignores_case[condition] and not ignores_case[replace]:
        warnings.append(_warn("case-mismatch", where, f'"{condition}" vs "{replace}"'))
    if not bare[condition].startswith("^"):
        warnings.append(_warn("unanchored-pattern", where, f'condition "{condition}"'))
    if not bare[replace].startswith("^"):
        warnings.append(_warn("unanchored-replace", where, f'replace pattern "{replace}"'))
    return warnings


def _adfs(config: AdfsMappingConfig, engine: MappingEngine | None) -> list[LintWarning]:
    """Check every rule's ``Value =~`` condition against the RegExReplace fed by its claim.

    The rules are the engine's (already read from ``rules_file``); without an ADFS engine only
    inline ``rules`` can be checked, since lint reads nothing from disk.
    """
    if isinstance(engine, AdfsMapping):
        rule_set = engine.rule_set
    elif config.rules is not None:
        rule_set = adfs_ast.parse_rules(config.rules, source="rules")
    else:
        return []
    source = rule_set.source
    place = "idp.mapping.adfs.rules" if source == "rules" else Path(source).name
    warnings: list[LintWarning] = []
    for index, rule in enumerate(rule_set.rules, 1):
        label = f"rule {rule.name!r}" if rule.name is not None else f"rule {index}"
        where = f"adfs: {label} at {place}:{rule.line}"
        for condition, replace in _regex_pairs(rule):
            warnings += regex_pair_warnings(condition, replace, where)
    return warnings


def _regex_pairs(rule: adfs_ast.Rule) -> list[tuple[str, str]]:
    """Return (condition, replace pattern) for each ``RegExReplace(c.Value, "…", …)`` of the
    rule's action whose claim ``c`` was selected with ``Value =~ "…"``."""
    conditions: dict[str, list[str]] = {}
    for condition in rule.conditions:
        if isinstance(condition, adfs_ast.Selector) and condition.variable is not None:
            conditions[condition.variable] = [
                match.expr.value
                for match in condition.matches
                if match.prop is adfs_ast.ClaimProperty.VALUE
                and match.operator is adfs_ast.MatchOperator.MATCHES
                and isinstance(match.expr, adfs_ast.StringLiteral)
            ]
    statement = rule.action.statement
    if isinstance(statement, adfs_ast.NewClaim):
        exprs = [assignment.expr for assignment in statement.assignments]
    elif isinstance(statement, adfs_ast.StoreQuery):
        exprs = list(statement.params)
    else:
        return []
    pairs: list[tuple[str, str]] = []
    for replace in (r for expr in exprs for r in _regex_replaces(expr)):
        target, pattern = replace.input, replace.pattern
        if (
            isinstance(target, adfs_ast.ClaimRef)
            and target.prop is adfs_ast.ClaimProperty.VALUE
            and isinstance(pattern, adfs_ast.StringLiteral)
        ):
            pairs += [(c, pattern.value) for c in conditions.get(target.variable, ())]
    return pairs


def _regex_replaces(expr: adfs_ast.Expr) -> Iterator[adfs_ast.RegexReplace]:
    """Yield every RegExReplace call in ``expr``, outermost first."""
    if isinstance(expr, adfs_ast.RegexReplace):
        yield expr
        for part in (expr.input, expr.pattern, expr.replacement):
            yield from _regex_replaces(part)
    elif isinstance(expr, adfs_ast.Concat):
        for part in expr.parts:
            yield from _regex_replaces(part)


def _explicit(config: ExplicitMappingConfig, directory: Directory) -> list[LintWarning]:
    """Warn about mapped groups nobody is in (a typo there only shows as a missing role)."""
    populated = {group for user in directory.users() for group in directory.groups_of(user)}
    warnings = []
    for group in config.groups:
        if group in populated:
            continue
        close = difflib.get_close_matches(group, sorted(populated), n=1, cutoff=0.75)
        hint = f"{group!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        warnings.append(_warn("mapping-group-without-members", f"explicit.groups.{group}", hint))
    return warnings


def _okta(
    config: OktaAwsConfig, directory: Directory, world: AwsWorldIndex | None
) -> list[LintWarning]:
    warnings: list[LintWarning] = []
    pattern = config.role_value_pattern or ""
    if config.use_group_mapping is False and (
        pattern or config.group_filter != DEFAULT_GROUP_FILTER
    ):
        warnings.append(_warn("okta-group-mapping-off", "okta_aws.use_group_mapping"))
    if "$${" in pattern or "\\\\" in config.group_filter:
        warnings.append(_warn("double-escaped", "okta_aws.role_value_pattern / group_filter"))
    if any(char.isspace() for char in pattern):
        detail = f"role_value_pattern {pattern!r} contains whitespace, so every Role value will"
        warnings.append(_warn("role-value-whitespace", "okta_aws.role_value_pattern", detail))
    if not config.group_mapping:
        return warnings + _okta_assignments(config, directory)
    python, flags = translate_java_regex(config.group_filter)
    where = "okta_aws.group_filter"
    unflagged = re.sub(r"^\(\?[a-zA-Z]+\)", "", config.group_filter)
    if config.match == "search" and not (unflagged.startswith("^") and unflagged.endswith("$")):
        warnings.append(_warn("unanchored-pattern", where))
    if re.compile(python, flags).flags & re.IGNORECASE:
        warnings.append(_warn("case-insensitive-filter", where))
    role_body = capture_body(python, "role")
    if role_body is not None and re.fullmatch(f"(?:{role_body})", "Admin,Evil", flags):
        detail = f"(?{{{{role}}}}{role_body}) accepts ','"
        warnings.append(_warn("role-capture-allows-comma", where, detail))
    if world is not None:
        warnings += _okta_world(pattern, python, flags, world)
    return warnings + _okta_groups(config, python, flags, directory)


def _okta_world(pattern: str, python: str, flags: int, world: AwsWorldIndex) -> list[LintWarning]:
    """Check the Role Value Pattern against the provider and role names the world declares."""
    warnings: list[LintWarning] = []
    provider = re.search(r":saml-provider/([^,$]+)", pattern)
    if provider and not any(provider.group(1) in names for names in world.providers.values()):
        detail = f"no account of the AWS world has a SAML provider named {provider.group(1)!r}"
        warnings.append(_warn("unknown-provider", "okta_aws.role_value_pattern", detail))
    role_part = re.search(r":role/([^,]*)", pattern)
    if role_part is None:
        return warnings
    parts = re.split(r"(\$\{[^}]*\})", role_part.group(1))
    regex = "".join(
        f"(?:{capture_body(python, part[2:-1]) or '.*'})"
        if part.startswith("${")
        else re.escape(part)
        for part in parts
    )
    for account, names in world.role_names.items():
        if provider and provider.group(1) not in world.providers.get(account, set()):
            continue  # roles of accounts federated with another provider
        for name in sorted(names):
            if not re.fullmatch(regex, name, flags):
                detail = f"role {name!r} in account {account} does not match {regex}"
                warnings.append(_warn("role-name-unmatchable", "okta_aws.group_filter", detail))
    return warnings


def _okta_groups(
    config: OktaAwsConfig, python: str, flags: int, directory: Directory
) -> list[LintWarning]:
    """Flag directory groups the filter treats surprisingly."""
    engine = OktaAwsMapping(config)
    strict = re.compile(python, flags)
    loose = re.compile(python, flags | re.IGNORECASE)
    sources = {s.lower() for s in config.app_filter or ()}
    warnings: list[LintWarning] = []
    for group in (g.name for g in directory.groups()):
        where = f"okta_aws: group {group!r}"
        hit = engine.apply_filter(group)
        if hit is None and loose.search(group) and not strict.search(group):
            warnings.append(_warn("case-ignored-group", where))
        if hit is not None and config.match == "search" and strict.fullmatch(group) is None:
            warnings.append(_warn("look-alike-group", where))
        source = engine.source_of(group)
        if hit is not None and sources and source.lower() not in sources:
            warnings.append(_warn("app-filter-excludes", where, f"source {source!r}"))
    return warnings


def _okta_assignments(config: OktaAwsConfig, directory: Directory) -> list[LintWarning]:
    if config.join_all_roles:
        return []
    warnings: list[LintWarning] = []
    for user in directory.users():
        groups = directory.groups_of(user)
        held = [user.name] if user.name in config.user_roles else []
        held += [g for g in config.group_roles if g in groups]
        if len(held) > 1:
            detail = f"{len(held)} assignments, of which only {held[0]!r} counts"
            warnings.append(_warn("okta-join-all-roles-off", f"okta_aws: user {user.name}", detail))
    return warnings


def _entra(config: EntraAwsConfig, directory: Directory) -> list[LintWarning]:
    warnings: list[LintWarning] = []
    for index, role in enumerate(config.app_roles):
        if role.value is not None and len(role.value) >= ENTRA_IMPORT_LIMIT:
            where = f"entra.app_roles[{index}] ({role.display_name})"
            detail = f"the value is {len(role.value)} characters"
            warnings.append(_warn("entra-import-limit", where, detail))
    for group in () if config.nested_groups else config.group_assignments:
        nested = [
            user.name
            for user in directory.users()
            if group in directory.groups_of(user) and group not in user.direct_groups
        ]
        if nested:
            detail = f"{', '.join(nested)} reach {group!r} only through nested groups"
            where = f"entra.group_assignments[{group!r}]"
            warnings.append(_warn("entra-nested-group", where, detail))
    return warnings
