"""Parse IAM policy documents and decide requests against them, explaining every decision.

Good enough for role trust policies (``Principal`` + ``sts:AssumeRoleWithSAML`` + ``saml:*``
conditions, aws-sts-saml.md §2.2) and for identity policies. Evaluation follows the IAM rules for a
single set of policies: an applicable Deny wins, then an applicable Allow, else the implicit deny.
Permission boundaries, SCPs and session policies are out of scope. Condition operators live in
:mod:`.conditions`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, TypeAlias

from .conditions import (
    Condition,
    ConditionContext,
    ConditionOperator,
    ConditionResult,
    ContextValue,
    arn_match,
    check_values,
    evaluate_condition,
    expand,
    glob_match,
    parse_operator,
)

__all__ = [
    "Condition",
    "ConditionOperator",
    "ConditionResult",
    "ContextValue",
    "Decision",
    "Effect",
    "MalformedPolicyDocument",
    "Outcome",
    "Policy",
    "PolicyError",
    "Principal",
    "Request",
    "Statement",
    "StatementResult",
    "evaluate",
    "parse_policy",
]

VERSIONS = ("2012-10-17", "2008-10-17")
"""Policy language versions; only 2012-10-17 substitutes policy variables."""

PRINCIPAL_KINDS = ("AWS", "Federated", "Service", "CanonicalUser")

_POLICY_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_ACTION = re.compile(r"[^:\s]+:\S+")

MAX_POLICY_CHARS = 131_072
"""The longest policy document IAM's API takes (``policyDocumentType``, max 131072, in
botocore's IAM model); IAM's quotas are far smaller (a role trust policy 2,048 characters by
default, a managed policy 6,144), so nothing valid is refused. Checked before JSON decoding."""
MAX_NESTING = 32
"""The deepest nesting of JSON arrays and objects parsed (ours, not IAM's: a valid policy nests
at most 6 deep — Policy, Statement list, statement, Condition, operator, value list). Deeper
documents are refused before decoding, which would otherwise recurse once per level."""
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class PolicyError(Exception):
    """Root of the errors this module raises."""

    code: ClassVar[str] = "PolicyError"


class MalformedPolicyDocument(PolicyError):
    """The policy document is not a valid IAM policy; the message names the element at fault."""

    code: ClassVar[str] = "MalformedPolicyDocument"

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class Effect(StrEnum):
    """A statement's effect."""

    ALLOW = "Allow"
    DENY = "Deny"


class Outcome(StrEnum):
    """The result of an evaluation, named as the IAM policy simulator names them."""

    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True)
class Principal:
    """A principal: in a request, who is asking; in a policy, who a statement is about."""

    kind: str
    """``AWS``, ``Federated``, ``Service`` or ``CanonicalUser``; ``*`` for a policy's ``"*"``."""
    value: str
    """An ARN, account id, provider name or service name; ``*`` for everyone of that kind."""

    def __str__(self) -> str:
        return "*" if self.kind == "*" else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Statement:
    """One policy statement; of each X/NotX pair at most one is set."""

    effect: Effect
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    """None, with ``not_resources`` None, when there is no Resource (as in trust policies)."""
    not_resources: tuple[str, ...] | None = None
    principals: tuple[Principal, ...] | None = None
    not_principals: tuple[Principal, ...] | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A parsed policy document."""

    statements: tuple[Statement, ...]
    version: str | None = None
    """None when the document has no Version (IAM then reads it as 2008-10-17)."""
    id: str | None = None

    @property
    def variables_enabled(self) -> bool:
        """Return whether ``${...}`` are policy variables here (only in 2012-10-17)."""
        return self.version == "2012-10-17"


@dataclass(frozen=True)
class Request:
    """What is being asked: an action on a resource, by a principal, with a context."""

    action: str
    resource: str = "*"
    principal: Principal | None = None
    """Who asks; None for identity policies, whose statements name no principal."""
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    """Condition keys (any case) to values; a list of strings for a multivalued key."""


@dataclass(frozen=True)
class StatementResult:
    """How one statement fared against the request."""

    policy_index: int
    statement_index: int
    statement: Statement
    principal_matched: bool
    """True also when the request names no principal (statements are then not filtered)."""
    action_matched: bool
    resource_matched: bool
    conditions: tuple[ConditionResult, ...]

    @property
    def sid(self) -> str | None:
        """Return the statement's Sid."""
        return self.statement.sid

    @property
    def effect(self) -> Effect:
        """Return the statement's Effect."""
        return self.statement.effect

    @property
    def conditions_held(self) -> bool:
        """Return whether every condition held."""
        return all(result.held for result in self.conditions)

    @property
    def applies(self) -> bool:
        """Return whether the statement applies to the request."""
        return (
            self.principal_matched
            and self.action_matched
            and self.resource_matched
            and self.conditions_held
        )


@dataclass(frozen=True)
class PossibleAllow:
    """An Allow statement that grants, or may grant, a request: and on what it depends."""

    statement: StatementResult
    unknowns: tuple[str, ...]
    """What the request left open that the statement needs; empty when it grants for certain."""
    several_policies: bool = False
    """Whether the statement is one of several policies' (its label then names the policy)."""

    def describe(self, action: str) -> str:
        """Return ``allowed: …`` or ``may be allowed: … for …`` for ``action``."""
        label = _label(self.statement, self.several_policies)
        if not self.unknowns:
            return f"allowed: {label} allows {action}"
        return f"may be allowed: {label} allows {action} for {' and '.join(self.unknowns)}"


@dataclass(frozen=True)
class Decision:
    """The outcome of an evaluation, with the record of every statement that led to it."""

    outcome: Outcome
    request: Request
    statements: tuple[StatementResult, ...]

    @property
    def allowed(self) -> bool:
        """Return whether the request is allowed."""
        return self.outcome is Outcome.ALLOW

    @property
    def deciding(self) -> tuple[StatementResult, ...]:
        """Return the statements that decided: the Denies, else the Allows, that applied."""
        effect = {Outcome.ALLOW: Effect.ALLOW, Outcome.EXPLICIT_DENY: Effect.DENY}.get(self.outcome)
        return tuple(r for r in self.statements if r.applies and r.effect is effect)

    def may_allow(self, *, any_resource: bool) -> PossibleAllow | None:
        """Return how a request like this one could be allowed, or None if none could.

        A ``cannot`` check leaves open what it does not name: with ``any_resource`` the
        resource (the request's ``*`` stands for every resource), and always the condition keys
        the request does not carry (``aws:SecureTransport``, ``s3:prefix``, …). An Allow whose
        Resource or conditions fail only on those may still grant the action to a real request.
        A Deny that applies for certain rules every such request out.
        """
        several = any(result.policy_index for result in self.statements)
        if self.allowed:
            return PossibleAllow(self.deciding[0], (), several)
        if self.outcome is Outcome.EXPLICIT_DENY:
            return None
        for result in self.statements:
            if result.effect is not Effect.ALLOW or not result.principal_matched:
                continue
            if not result.action_matched:
                continue
            unknowns: list[str] = []
            if not result.resource_matched:
                excluded = result.statement.not_resources
                if not any_resource or (excluded is not None and "*" in excluded):
                    continue
                listed = result.statement.resources
                unknowns.append(
                    f"a resource the check does not name (Resource {_few(listed)})"
                    if listed is not None
                    else f"a resource outside NotResource {_few(excluded or ())}"
                )
            failed = [condition for condition in result.conditions if not condition.held]
            if any(c.request_values is not None and None not in c.resolved_values for c in failed):
                continue  # a condition on a value the request gives fails for certain
            unknowns += [f"{condition.key} (not in the check's context)" for condition in failed]
            return PossibleAllow(result, tuple(unknowns), several)
        return None

    def describe(self) -> str:
        """Return a short human explanation of the decision."""
        subject = self.request.action
        if self.request.resource != "*":
            subject += f" on {self.request.resource}"
        if self.request.principal is not None:
            subject += f" for {self.request.principal}"
        several = any(result.policy_index for result in self.statements)
        if self.outcome is Outcome.ALLOW:
            return f"allowed: {_label(self.deciding[0], several)} allows {subject}"
        if self.outcome is Outcome.EXPLICIT_DENY:
            return f"denied: {_label(self.deciding[0], several)} explicitly denies {subject}"
        reasons = [
            f"{_label(result, several)}: {', '.join(_failures(result))}"
            for result in self.statements
            if result.effect is Effect.ALLOW
        ]
        return "; ".join([f"denied: no statement allows {subject}", *reasons])


# --- parsing ----------------------------------------------------------------------------------


def parse_policy(document: str | Mapping[str, object]) -> Policy:
    """Parse a policy from JSON text or an already decoded mapping."""
    decoded: object = document
    if isinstance(document, str):
        decoded = _decode(document)
    else:
        _check_nesting(document)
    if not isinstance(decoded, Mapping):
        raise MalformedPolicyDocument("Policy", "must be a JSON object")
    for element in decoded:
        if element not in _POLICY_ELEMENTS:
            raise MalformedPolicyDocument("Policy", f"unknown element {element!r}")
    version = decoded.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicyDocument("Policy", f"unknown Version {version!r}")
    policy_id = decoded.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyDocument("Policy", "Id must be a string")
    raw = decoded.get("Statement")
    if raw is None:
        raise MalformedPolicyDocument("Policy", "missing Statement")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise MalformedPolicyDocument("Policy", "Statement must be an object or a non-empty list")
    statements = tuple(_statement(item, f"Statement[{i}]") for i, item in enumerate(items))
    seen: set[str] = set()
    for index, statement in enumerate(statements):
        if statement.sid:
            if statement.sid in seen:
                raise MalformedPolicyDocument(
                    f"Statement[{index}]", f"duplicate Sid {statement.sid!r}"
                )
            seen.add(statement.sid)
    return Policy(statements, version, policy_id)


def _decode(document: str) -> object:
    """Decode policy JSON, refusing (MalformedPolicyDocument) what is too long or too deep to
    decode safely, and what is not JSON."""
    if len(document) > MAX_POLICY_CHARS:
        raise MalformedPolicyDocument(
            "Policy", f"{len(document)} characters, more than the {MAX_POLICY_CHARS} IAM takes"
        )
    depth = _text_nesting(document)
    if depth > MAX_NESTING:
        raise MalformedPolicyDocument("Policy", f"nested more than {MAX_NESTING} levels deep")
    try:
        return json.loads(document, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or int()'s digit limit
        raise MalformedPolicyDocument("Policy", f"not valid JSON: {exc}") from None


def _text_nesting(document: str) -> int:
    """Return how deep JSON arrays and objects nest in ``document``, stopping once it is over
    :data:`MAX_NESTING` (brackets inside strings are not counted)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", document)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                break
        else:
            depth -= 1
    return deepest


def _check_nesting(document: object) -> None:
    """Refuse an already decoded document nested deeper than :data:`MAX_NESTING` (walked
    without recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children: Sequence[object]
        if isinstance(value, Mapping):
            children = list(value.values())
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > MAX_NESTING:
            raise MalformedPolicyDocument("Policy", f"nested more than {MAX_NESTING} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _statement(raw: object, where: str) -> Statement:
    if not isinstance(raw, Mapping):
        raise MalformedPolicyDocument(where, "must be a JSON object")
    for element in raw:
        if element not in _STATEMENT_ELEMENTS:
            raise MalformedPolicyDocument(where, f"unknown element {element!r}")
    for first, second in (
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ):
        if first in raw and second in raw:
            raise MalformedPolicyDocument(where, f"has both {first} and {second}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyDocument(where, "Sid must be a string")
    effect = raw.get("Effect")
    if effect is None:
        raise MalformedPolicyDocument(where, "missing Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocument(where, f"unknown Effect {effect!r}")
    if "Action" not in raw and "NotAction" not in raw:
        raise MalformedPolicyDocument(where, "missing Action or NotAction")
    return Statement(
        effect=Effect(effect),
        sid=sid,
        actions=_actions(raw, "Action", where),
        not_actions=_actions(raw, "NotAction", where),
        resources=_resources(raw, "Resource", where),
        not_resources=_resources(raw, "NotResource", where),
        principals=_principals(raw, "Principal", where),
        not_principals=_principals(raw, "NotPrincipal", where),
        conditions=_conditions(raw.get("Condition"), where),
    )


def _strings(value: object, where: str, element: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise MalformedPolicyDocument(where, f"{element} must be a string or a non-empty list")
    for item in items:
        if not isinstance(item, str):
            raise MalformedPolicyDocument(where, f"{element} value {item!r} is not a string")
    return tuple(items)


def _actions(raw: Mapping[str, object], element: str, where: str) -> tuple[str, ...] | None:
    if element not in raw:
        return None
    actions = _strings(raw[element], where, element)
    for action in actions:
        if action != "*" and not _ACTION.fullmatch(action):
            raise MalformedPolicyDocument(
                where, f"{element} {action!r} must be '*' or 'service:action'"
            )
    return actions


def _resources(raw: Mapping[str, object], element: str, where: str) -> tuple[str, ...] | None:
    if element not in raw:
        return None
    resources = _strings(raw[element], where, element)
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise MalformedPolicyDocument(where, f"{element} {resource!r} must be '*' or an ARN")
    return resources


def _principals(
    raw: Mapping[str, object], element: str, where: str
) -> tuple[Principal, ...] | None:
    if element not in raw:
        return None
    value = raw[element]
    if value == "*":
        return (Principal("*", "*"),)
    if not isinstance(value, Mapping) or not value:
        raise MalformedPolicyDocument(where, f"{element} must be '*' or a non-empty object")
    principals: list[Principal] = []
    for kind, names in value.items():
        if kind not in PRINCIPAL_KINDS:
            raise MalformedPolicyDocument(where, f"unknown {element} type {kind!r}")
        for name in _strings(names, where, f"{element} {kind}"):
            # "You can use * only to specify everyone/anonymous. You cannot use it to specify
            # part of a name or ARN." (IAM policy grammar notes)
            if name != "*" and "*" in name:
                raise MalformedPolicyDocument(
                    where, f"{element} {kind} {name!r}: a wildcard must stand alone as '*'"
                )
            principals.append(Principal(kind, name))
    return tuple(principals)


def _conditions(raw: object, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise MalformedPolicyDocument(where, "Condition must be an object")
    conditions: list[Condition] = []
    for name, block in raw.items():
        try:
            operator = parse_operator(name)
        except ValueError as exc:
            raise MalformedPolicyDocument(where, str(exc)) from None
        if not isinstance(block, Mapping):
            raise MalformedPolicyDocument(where, f"Condition {name} must map keys to values")
        for key, value in block.items():
            values = _condition_values(value, where, f"Condition {name} {key!r}")
            try:
                check_values(operator, values)
            except ValueError as exc:
                raise MalformedPolicyDocument(where, f"Condition {name} {key!r}: {exc}") from None
            conditions.append(Condition(operator, key, values))
    return tuple(conditions)


def _condition_values(value: object, where: str, label: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise MalformedPolicyDocument(where, f"{label} has no values")
    texts: list[str] = []
    for item in items:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float | Decimal):
            texts.append(str(item))
        else:
            raise MalformedPolicyDocument(
                where, f"{label} value {item!r} is not a string, number or boolean"
            )
    return tuple(texts)


# --- evaluation -------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"\d{12}")
_ROOT = re.compile(r"arn:([^:]+):iam::(\d{12}):root")
_IN_ACCOUNT = re.compile(r"arn:([^:]+):(?:iam|sts)::(\d{12}):.+")
_ROLE = re.compile(r"arn:([^:]+):iam::(\d{12}):role/(?:.*/)?([^/]+)")
_ROLE_SESSION = re.compile(r"arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+")

_Matcher: TypeAlias = Callable[[str], bool]


def evaluate(policies: Sequence[Policy], request: Request) -> Decision:
    """Decide ``request`` against ``policies``: explicit Deny, else Allow, else implicit deny."""
    context = ConditionContext(request.context)
    results = tuple(
        _evaluate_statement(policy_index, statement_index, policy, statement, request, context)
        for policy_index, policy in enumerate(policies)
        for statement_index, statement in enumerate(policy.statements)
    )
    effects = {result.effect for result in results if result.applies}
    if Effect.DENY in effects:
        outcome = Outcome.EXPLICIT_DENY
    elif Effect.ALLOW in effects:
        outcome = Outcome.ALLOW
    else:
        outcome = Outcome.IMPLICIT_DENY
    return Decision(outcome, request, results)


def _evaluate_statement(
    policy_index: int,
    statement_index: int,
    policy: Policy,
    statement: Statement,
    request: Request,
    context: ConditionContext,
) -> StatementResult:
    variables = policy.variables_enabled
    return StatementResult(
        policy_index=policy_index,
        statement_index=statement_index,
        statement=statement,
        principal_matched=_principal_matched(statement, request.principal),
        action_matched=_element_matched(
            statement.actions,
            statement.not_actions,
            lambda action: glob_match(((action, True),), request.action, ignore_case=True),
        ),
        resource_matched=_element_matched(
            statement.resources,
            statement.not_resources,
            lambda resource: _resource_matches(resource, request.resource, context, variables),
        ),
        conditions=tuple(
            evaluate_condition(condition, context, variables) for condition in statement.conditions
        ),
    )


def _element_matched(
    listed: Sequence[str] | None, excluded: Sequence[str] | None, matches: _Matcher
) -> bool:
    if listed is not None:
        return any(matches(value) for value in listed)
    if excluded is not None:
        return not any(matches(value) for value in excluded)
    return True


def _resource_matches(
    resource: str, requested: str, context: ConditionContext, variables: bool
) -> bool:
    pattern = expand(resource, context, variables)
    return pattern is not None and arn_match(pattern, requested)


def _principal_matched(statement: Statement, principal: Principal | None) -> bool:
    if principal is None:
        return True
    if statement.principals is not None:
        return any(_principal_matches(listed, principal) for listed in statement.principals)
    if statement.not_principals is not None:
        return not any(_principal_matches(listed, principal) for listed in statement.not_principals)
    return False


def _principal_matches(listed: Principal, principal: Principal) -> bool:
    if listed.kind == "*":
        return True
    if listed.kind != principal.kind:
        return False
    if listed.value == "*" or listed.value == principal.value:
        return True
    if listed.kind != "AWS":
        return False
    return _aws_principal_matches(_as_arn(listed.value), _as_arn(principal.value))


def _as_arn(value: str) -> str:
    return f"arn:aws:iam::{value}:root" if _ACCOUNT.fullmatch(value) else value


def _aws_principal_matches(listed: str, asking: str) -> bool:
    """Match an account (its root ARN) to anyone in it, and a role to its sessions."""
    if listed == asking:
        return True
    root, member = _ROOT.fullmatch(listed), _IN_ACCOUNT.fullmatch(asking)
    if root is not None and member is not None:
        return root.groups() == member.groups()
    role, session = _ROLE.fullmatch(listed), _ROLE_SESSION.fullmatch(asking)
    return role is not None and session is not None and role.groups() == session.groups()


# --- explanation ------------------------------------------------------------------------------


def _label(result: StatementResult, several_policies: bool) -> str:
    label = f"statement {result.statement_index}"
    if several_policies:
        label = f"policy {result.policy_index} {label}"
    return f"{label} (Sid {result.sid})" if result.sid else label


def _failures(result: StatementResult) -> list[str]:
    statement = result.statement
    failures: list[str] = []
    if not result.principal_matched:
        if statement.principals is not None:
            failures.append(f"Principal {[str(p) for p in statement.principals]} did not match")
        elif statement.not_principals is not None:
            failures.append(
                f"NotPrincipal {[str(p) for p in statement.not_principals]} excludes it"
            )
        else:
            failures.append("it has no Principal element")
    if not result.action_matched:
        failures.append(_element_failure("Action", statement.actions, statement.not_actions))
    if not result.resource_matched:
        failures.append(_element_failure("Resource", statement.resources, statement.not_resources))
    for condition in result.conditions:
        if not condition.held:
            failures.append(_condition_failure(condition))
    return failures


def _element_failure(
    element: str, listed: tuple[str, ...] | None, excluded: tuple[str, ...] | None
) -> str:
    if listed is not None:
        return f"{element} {_few(listed)} did not match"
    return f"Not{element} {_few(excluded or ())} excludes it"


_LISTED = 5
"""Entries of an Action or Resource list quoted in an explanation (managed policies list
thousands)."""


def _few(entries: tuple[str, ...]) -> str:
    if len(entries) <= _LISTED:
        return str(list(entries))
    shown = ", ".join(repr(entry) for entry in entries[:_LISTED])
    return f"[{shown}, … {len(entries) - _LISTED:,} more]"


def _condition_failure(condition: ConditionResult) -> str:
    expected = repr(list(condition.policy_values))
    if condition.resolved_values != condition.policy_values:
        shown = ["<no value>" if value is None else value for value in condition.resolved_values]
        expected += f" (resolved {shown})"
    request = condition.request_values
    if request is None:
        had = "no value"
    elif len(request) == 1:
        had = repr(request[0])
    else:
        had = repr(list(request))
    return f"condition {condition.operator} {condition.key} = {expected} failed, request had {had}"
