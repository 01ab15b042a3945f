"""IAM condition operators, policy variables, and the wildcard matching they share with Resource.

Semantics follow the IAM User Guide ("Condition operators", "Conditions with multiple context keys
or values", "Variables and tags"). Where the guide is silent, the choice made here is noted at the
place it is made. Nothing in this module knows about statements or policies; :mod:`.policy` builds
on it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import TypeAlias, TypeVar

ContextValue: TypeAlias = str | bool | int | float | Decimal | datetime | Sequence[str]
"""A request-context value: a scalar, or a list of strings for a multivalued key."""

Piece: TypeAlias = tuple[str, bool]
"""A run of policy text and whether ``*``/``?`` in it are wildcards (False once escaped)."""

Pattern: TypeAlias = tuple[Piece, ...]
"""A policy value after variable substitution, ready to compare."""


class SetQualifier(StrEnum):
    """The set operators that compare a multivalued key value by value."""

    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True)
class _OperatorKind:
    test: Callable[[str, Pattern], bool]
    negated: bool = False
    variables: bool = False
    check: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ConditionOperator:
    """A parsed operator name such as ``ForAnyValue:StringLikeIfExists``."""

    name: str
    """The name as written in the policy."""
    base: str
    """The operator without qualifier or ``IfExists``, e.g. ``StringLike``."""
    qualifier: SetQualifier | None = None
    if_exists: bool = False

    @property
    def negated(self) -> bool:
        """Return whether the operator is a negated one (``StringNotEquals``, ``NotIpAddress``)."""
        return _KINDS[self.base].negated if self.base in _KINDS else False


@dataclass(frozen=True)
class Condition:
    """One key under one operator, with the values the policy lists for it."""

    operator: ConditionOperator
    key: str
    """The key as written; compared case-insensitively."""
    values: tuple[str, ...]
    """The policy values as strings (JSON booleans become ``true``/``false``)."""


@dataclass(frozen=True)
class ConditionResult:
    """How one condition fared against the request."""

    operator: str
    key: str
    policy_values: tuple[str, ...]
    """The values as written in the policy."""
    resolved_values: tuple[str | None, ...]
    """The values after variable substitution; None where a variable had no value."""
    request_values: tuple[str, ...] | None
    """The request's values for the key; None when the key is absent."""
    held: bool


class ConditionContext:
    """The request context, looked up case-insensitively as IAM does with condition keys."""

    def __init__(self, context: Mapping[str, ContextValue]) -> None:
        self._values: dict[str, tuple[tuple[str, ...], bool]] = {}
        for key, value in context.items():
            if isinstance(value, Sequence) and not isinstance(value, str):
                self._values[key.lower()] = (tuple(_scalar_text(v) for v in value), True)
            else:
                self._values[key.lower()] = ((_scalar_text(value),), False)

    def values(self, key: str) -> tuple[str, ...] | None:
        """Return the values of ``key``; None when it is absent or an empty list."""
        entry = self._values.get(key.lower())
        if entry is None or not entry[0]:
            return None
        return entry[0]

    def variable(self, key: str) -> str | None:
        """Return the value to substitute for ``${key}``; multivalued keys cannot be variables."""
        entry = self._values.get(key.lower())
        if entry is None or entry[1]:
            return None
        return entry[0][0]


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- policy variables -------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?:[^}']|'(?:[^']|'')*')*\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,'{}]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")
_ESCAPES = frozenset({"*", "?", "$"})

_Token: TypeAlias = tuple[str, str, str | None]
"""("raw", text, None) | ("lit", text, None) | ("var", key, default) | ("bad", text, None)."""


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            tokens.append(("raw", text[position : match.start()], None))
        body = match.group(0)[2:-1]
        variable = _VARIABLE_BODY.fullmatch(body)
        if body in _ESCAPES:
            tokens.append(("lit", body, None))
        elif variable is None:
            tokens.append(("bad", match.group(0), None))
        else:
            default = variable.group(2)
            tokens.append(
                ("var", variable.group(1), None if default is None else default.replace("''", "'"))
            )
        position = match.end()
    if position < len(text):
        tokens.append(("raw", text[position:], None))
    return tuple(tokens)


def expand(text: str, context: ConditionContext, variables: bool) -> Pattern | None:
    """Substitute policy variables in ``text``; None when one has no value and no default.

    Substituted values are literal: a ``*`` in a tag value is not a wildcard (the guide does not
    say; literal is the choice that a requester cannot abuse). A malformed ``${...}`` has no value.
    """
    if not variables:
        return ((text, True),)
    pieces: list[Piece] = []
    for kind, value, default in _tokens(text):
        if kind == "raw":
            pieces.append((value, True))
        elif kind == "lit":
            pieces.append((value, False))
        elif kind == "var":
            resolved = context.variable(value)
            if resolved is None:
                resolved = default
            if resolved is None:
                return None
            pieces.append((resolved, False))
        else:
            return None
    return tuple(pieces)


def pattern_text(pattern: Pattern) -> str:
    """Return the pattern as plain text, wildcards taken literally."""
    return "".join(text for text, _ in pattern)


# --- wildcard matching ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob(pattern: Pattern, ignore_case: bool) -> re.Pattern[str]:
    parts: list[str] = []
    for text, wild in pattern:
        for char in text:
            if wild and char == "*":
                parts.append(".*")
            elif wild and char == "?":
                parts.append(".")
            else:
                parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@lru_cache(maxsize=4096)
def _arn_glob(pattern: Pattern) -> re.Pattern[str]:
    # The first five colons split the ARN into segments a wildcard cannot cross; the sixth
    # segment (the resource) may itself contain colons, so there a wildcard spans anything.
    parts: list[str] = []
    colons = 0
    for text, wild in pattern:
        for char in text:
            in_resource = colons >= 5
            if wild and char == "*":
                parts.append(".*" if in_resource else "[^:]*")
            elif wild and char == "?":
                parts.append("." if in_resource else "[^:]")
            else:
                if wild and char == ":":
                    colons += 1
                parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: Pattern, value: str, ignore_case: bool = False) -> bool:
    """Return whether ``value`` matches ``pattern`` with ``*`` and ``?`` wildcards."""
    plain = _plain_prefix(pattern)
    if plain is not None:
        # Fast paths for the common shapes ("s3:GetObject", "s3:Get*"): managed policies list
        # thousands of them, and compiling a regex for each costs more than the evaluation.
        text, trailing_star = plain
        if ignore_case:
            text, value = text.casefold(), value.casefold()
        return value.startswith(text) if trailing_star else value == text
    return _glob(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=8192)
def _plain_prefix(pattern: Pattern) -> tuple[str, bool] | None:
    """Return (text, ends with *) when ``pattern`` has no wildcard but an optional final ``*``."""
    text = "".join(part for part, _ in pattern)
    wild_chars = [
        i for i, (part, wild) in enumerate(pattern) if wild and any(c in "*?" for c in part)
    ]
    if not wild_chars:
        return text, False
    if len(wild_chars) == 1 and wild_chars[0] == len(pattern) - 1:
        last, _ = pattern[-1]
        if last.endswith("*") and "*" not in last[:-1] and "?" not in last:
            return text[:-1], True
    return None


def arn_match(pattern: Pattern, value: str) -> bool:
    """Return whether ARN ``value`` matches ``pattern`` segment by segment, as ArnLike does."""
    if pattern == (("*", True),):
        return True
    return _arn_glob(pattern).fullmatch(value) is not None


# --- value parsing ----------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")
_YEAR_MONTH = re.compile(r"\d{4}-\d{2}")


def _number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def _date(text: str) -> datetime | None:
    """Parse ISO 8601 (W3C profile) or epoch seconds; a time without zone is taken as UTC.

    All-digit text is epoch seconds, so the W3C year-only form ``YYYY`` is not supported.
    """
    text = text.strip()
    if _YEAR_MONTH.fullmatch(text):
        text += "-01"
    if _EPOCH.fullmatch(text):
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _require(parse: Callable[[str], object], what: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if parse(value) is None:
            raise ValueError(f"{value!r} is not {what}")

    return check


def _check_boolean(value: str) -> None:
    if "${" not in value and value.lower() not in ("true", "false"):
        raise ValueError(f"{value!r} is not true or false")


# --- tests: (request value, policy pattern) -> matched ------------------------------------------


def _string_equals(value: str, pattern: Pattern) -> bool:
    return value == pattern_text(pattern)


def _string_equals_ignore_case(value: str, pattern: Pattern) -> bool:
    return value.casefold() == pattern_text(pattern).casefold()


def _string_like(value: str, pattern: Pattern) -> bool:
    return glob_match(pattern, value)


def _arn_like(value: str, pattern: Pattern) -> bool:
    return arn_match(pattern, value)


def _bool(value: str, pattern: Pattern) -> bool:
    return value.lower() == pattern_text(pattern).lower()


def _binary_equals(value: str, pattern: Pattern) -> bool:
    request = _binary(value)
    return request is not None and request == _binary(pattern_text(pattern))


def _ip_address(value: str, pattern: Pattern) -> bool:
    network = _network(pattern_text(pattern))
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return network is not None and address in network


_Comparable = TypeVar("_Comparable", Decimal, datetime)


def _compare(
    parse: Callable[[str], _Comparable | None], relation: Callable[[int], bool]
) -> Callable[[str, Pattern], bool]:
    """Build a test that holds when ``relation`` holds for the ordering of request vs policy."""

    def test(value: str, pattern: Pattern) -> bool:
        request, policy = parse(value), parse(pattern_text(pattern))
        if request is None or policy is None:
            return False
        return relation((request > policy) - (request < policy))

    return test


def _equal(order: int) -> bool:
    return order == 0


def _less(order: int) -> bool:
    return order < 0


def _less_equal(order: int) -> bool:
    return order <= 0


def _greater(order: int) -> bool:
    return order > 0


def _greater_equal(order: int) -> bool:
    return order >= 0


_check_number = _require(_number, "a number")
_check_date = _require(_date, "an ISO 8601 date or epoch seconds")

_KINDS: dict[str, _OperatorKind] = {
    "StringEquals": _OperatorKind(_string_equals, variables=True),
    "StringNotEquals": _OperatorKind(_string_equals, negated=True, variables=True),
    "StringEqualsIgnoreCase": _OperatorKind(_string_equals_ignore_case, variables=True),
    "StringNotEqualsIgnoreCase": _OperatorKind(
        _string_equals_ignore_case, negated=True, variables=True
    ),
    "StringLike": _OperatorKind(_string_like, variables=True),
    "StringNotLike": _OperatorKind(_string_like, negated=True, variables=True),
    "ArnEquals": _OperatorKind(_arn_like, variables=True),
    "ArnLike": _OperatorKind(_arn_like, variables=True),
    "ArnNotEquals": _OperatorKind(_arn_like, negated=True, variables=True),
    "ArnNotLike": _OperatorKind(_arn_like, negated=True, variables=True),
    "NumericEquals": _OperatorKind(_compare(_number, _equal), check=_check_number),
    "NumericNotEquals": _OperatorKind(_compare(_number, _equal), negated=True, check=_check_number),
    "NumericLessThan": _OperatorKind(_compare(_number, _less), check=_check_number),
    "NumericLessThanEquals": _OperatorKind(_compare(_number, _less_equal), check=_check_number),
    "NumericGreaterThan": _OperatorKind(_compare(_number, _greater), check=_check_number),
    "NumericGreaterThanEquals": _OperatorKind(
        _compare(_number, _greater_equal), check=_check_number
    ),
    "DateEquals": _OperatorKind(_compare(_date, _equal), check=_check_date),
    "DateNotEquals": _OperatorKind(_compare(_date, _equal), negated=True, check=_check_date),
    "DateLessThan": _OperatorKind(_compare(_date, _less), check=_check_date),
    "DateLessThanEquals": _OperatorKind(_compare(_date, _less_equal), check=_check_date),
    "DateGreaterThan": _OperatorKind(_compare(_date, _greater), check=_check_date),
    "DateGreaterThanEquals": _OperatorKind(_compare(_date, _greater_equal), check=_check_date),
    "Bool": _OperatorKind(_bool, variables=True, check=_check_boolean),
    "BinaryEquals": _OperatorKind(_binary_equals, check=_require(_binary, "base64")),
    "IpAddress": _OperatorKind(_ip_address, check=_require(_network, "an IP address or CIDR")),
    "NotIpAddress": _OperatorKind(
        _ip_address, negated=True, check=_require(_network, "an IP address or CIDR")
    ),
}


def parse_operator(name: str) -> ConditionOperator:
    """Parse an operator name; raise ValueError for one IAM does not define."""
    qualifier: SetQualifier | None = None
    base = name
    prefix, colon, rest = name.partition(":")
    if colon:
        if prefix not in {member.value for member in SetQualifier}:
            raise ValueError(f"unknown condition operator {name!r}")
        qualifier, base = SetQualifier(prefix), rest
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base.removesuffix("IfExists")
    if base == "Null":
        # The guide: IfExists goes on "any condition operator name except the Null condition";
        # a set qualifier on Null is meaningless, so it is refused too (unverified).
        if if_exists or qualifier is not None:
            raise ValueError(f"condition operator {name!r}: Null takes no IfExists or qualifier")
        return ConditionOperator(name, base)
    if base not in _KINDS:
        raise ValueError(f"unknown condition operator {name!r}")
    return ConditionOperator(name, base, qualifier, if_exists)


def check_values(operator_: ConditionOperator, values: Sequence[str]) -> None:
    """Raise ValueError when a policy value cannot be what the operator compares."""
    if operator_.base == "Null":
        for value in values:
            if value.lower() not in ("true", "false"):
                raise ValueError(f"Null takes true or false, not {value!r}")
        return
    check = _KINDS[operator_.base].check
    if check is not None:
        for value in values:
            check(value)


def evaluate_condition(
    condition: Condition, context: ConditionContext, variables: bool
) -> ConditionResult:
    """Evaluate one condition key against the request context."""
    op = condition.operator
    request = context.values(condition.key)
    if op.base == "Null":
        absent = request is None
        held = any((value.lower() == "true") == absent for value in condition.values)
        return ConditionResult(
            op.name, condition.key, condition.values, condition.values, request, held
        )
    kind = _KINDS[op.base]
    patterns = [expand(value, context, variables and kind.variables) for value in condition.values]
    resolved = tuple(None if p is None else pattern_text(p) for p in patterns)
    usable = [p for p in patterns if p is not None]

    def satisfied(value: str) -> bool:
        matched = any(kind.test(value, pattern) for pattern in usable)
        return not matched if kind.negated else matched

    if request is None:
        # The guide: an absent key makes the condition false, or true for a negated operator;
        # ForAllValues holds on an empty set, ForAnyValue does not; IfExists holds.
        if op.if_exists:
            held = True
        elif op.qualifier is SetQualifier.FOR_ALL_VALUES:
            held = True
        elif op.qualifier is SetQualifier.FOR_ANY_VALUE:
            held = False
        else:
            held = kind.negated
    elif op.qualifier is SetQualifier.FOR_ALL_VALUES:
        held = all(satisfied(value) for value in request)
    elif op.qualifier is SetQualifier.FOR_ANY_VALUE:
        held = any(satisfied(value) for value in request)
    else:
        # Without a set operator a multivalued key is compared as a whole: a positive operator
        # holds if any request value matches, a negated one only if none does (unverified).
        matched = any(kind.test(value, pattern) for value in request for pattern in usable)
        held = not matched if kind.negated else matched
    return ConditionResult(op.name, condition.key, condition.values, resolved, request, held)
