"""Parse ADFS claim rule sets (as exported by ADFS) into frozen dataclasses.

The grammar is ``adfs.lark`` (reference idp-mappings.md §1.2). Besides syntax, the parser makes
the static checks ADFS makes when a rule set is saved (MS-CTA §2.1.4.2): a claim variable is bound
once per rule and before it is used, the action only uses bound variables (ADFS's POLICY0011),
claim selectors and EXISTS/COUNT are not mixed in one rule, and a new claim has a Type. Every
error is a :class:`ClaimRuleSyntaxError` whose text is ``source:line:column: what is wrong``.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from idp.errors import MappingError


class ClaimRuleSyntaxError(MappingError):
    """A claim rule set does not parse; ``str()`` is ``source:line:column: reason``."""

    code = "claim_rule_syntax"

    def __init__(self, reason: str, *, source: str, line: int, column: int) -> None:
        super().__init__(f"{source}:{line}:{column}: {reason}")
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column


class ClaimProperty(StrEnum):
    """A property of a claim that conditions test and actions set."""

    TYPE = "Type"
    VALUE = "Value"
    VALUE_TYPE = "ValueType"
    ISSUER = "Issuer"
    ORIGINAL_ISSUER = "OriginalIssuer"


class MatchOperator(StrEnum):
    """How a selector compares a claim property; ``=~`` and ``!~`` are .NET regex searches."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    MATCHES = "=~"
    NOT_MATCHES = "!~"


@dataclass(frozen=True)
class StringLiteral:
    """A string literal."""

    value: str


@dataclass(frozen=True)
class ClaimRef:
    """``c.Value`` and the like: a property of the claim bound to ``variable``."""

    variable: str
    prop: ClaimProperty


@dataclass(frozen=True)
class PropertyRef:
    """``c.Properties["name"]``: empty when the claim has no such property."""

    variable: str
    name: str


@dataclass(frozen=True)
class RegexReplace:
    """``RegExReplace(input, pattern, replacement)``: .NET ``Regex.Replace``, every match."""

    input: Expr
    pattern: Expr
    replacement: Expr


@dataclass(frozen=True)
class Concat:
    """``a + b + …``: string concatenation."""

    parts: tuple[Expr, ...]


Expr = StringLiteral | ClaimRef | PropertyRef | RegexReplace | Concat


@dataclass(frozen=True)
class Match:
    """One test inside ``[…]``: ``Value =~ "(?i)^AWS-"``."""

    prop: ClaimProperty
    operator: MatchOperator
    expr: Expr
    line: int
    column: int


@dataclass(frozen=True)
class Selector:
    """``c:[…]``: each claim passing every match binds ``variable`` (when named)."""

    variable: str | None
    matches: tuple[Match, ...]
    text: str


@dataclass(frozen=True)
class Aggregate:
    """``EXISTS([…])``, ``NOT EXISTS([…])`` or ``COUNT([…]) > n``: true or false, no binding."""

    kind: Literal["exists", "not exists", "count"]
    matches: tuple[Match, ...]
    text: str
    comparison: str | None = None
    number: int | None = None


Condition = Selector | Aggregate


@dataclass(frozen=True)
class CopyClaim:
    """``claim = c``: the bound claim itself."""

    variable: str


@dataclass(frozen=True)
class Assignment:
    """``Type = …`` (``prop``) or ``Properties["name"] = …`` (``property_name``)."""

    expr: Expr
    prop: ClaimProperty | None = None
    property_name: str | None = None


@dataclass(frozen=True)
class NewClaim:
    """A new claim from property assignments (Type required, order free)."""

    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class StoreQuery:
    """``store = "…", types = (…), query = "…", param = …``: claims from an attribute store."""

    store: str
    types: tuple[str, ...]
    query: str
    params: tuple[Expr, ...]
    line: int
    column: int


Statement = CopyClaim | NewClaim | StoreQuery


@dataclass(frozen=True)
class Action:
    """``issue(…)`` (working and output set) or ``add(…)`` (working set only)."""

    kind: Literal["issue", "add"]
    statement: Statement


@dataclass(frozen=True)
class Rule:
    """One claim rule: annotations, conditions (empty: always true), an action."""

    annotations: tuple[tuple[str, str], ...]
    conditions: tuple[Condition, ...]
    action: Action
    line: int
    column: int
    text: str
    """The rule as written, without annotations."""

    @property
    def name(self) -> str | None:
        """Return the ``@RuleName`` annotation, if any."""
        for key, value in self.annotations:
            if key.lower() == "rulename":
                return value
        return None


@dataclass(frozen=True)
class RuleSet:
    """The rules of one rule set, in order."""

    rules: tuple[Rule, ...]
    source: str = "<rules>"


# --- parsing -------------------------------------------------------------------------------------

_GRAMMAR = Path(__file__).with_name("adfs.lark")
_PROPS = {p.value.lower(): p for p in ClaimProperty}
_SPELLING = {prop.name.replace("_", ""): prop.value for prop in ClaimProperty} | {
    "PROPERTIES": "Properties",
    "REGEXREPLACE": "RegExReplace",
    "STRING": 'a "string"',
    "IDENT": "a name",
    "NUMBER": "a number",
}
_PROP_TERMINALS = {"TYPE", "VALUE", "VALUETYPE", "ISSUER", "ORIGINALISSUER"}
_EXPR_START = {"STRING", "IDENT", "REGEXREPLACE"}
_TYPOGRAPHIC = "“”„‟″‘’‚‛«»"


@functools.cache
def _lark() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        start="rule_set",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def parse_rules(text: str, *, source: str = "<rules>") -> RuleSet:
    """Parse an ADFS claim rule set; raise ClaimRuleSyntaxError with line and column."""
    return _parse_cached(text, source)


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, source: str) -> RuleSet:
    text = text.removeprefix("\ufeff")
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, source) from None
    try:
        return RuleSet(tuple(_Builder(text, source).rule(node) for node in _trees(tree)), source)
    except RecursionError:
        raise ClaimRuleSyntaxError(
            "the rules are nested too deeply", source=source, line=1, column=1
        ) from None


def _syntax_error(exc: UnexpectedInput, text: str, source: str) -> ClaimRuleSyntaxError:
    line, column = _int(exc.line, 1), _int(exc.column, 1)
    if not isinstance(exc, UnexpectedToken):
        reason = (
            _bad_character(exc.char)
            if isinstance(exc, UnexpectedCharacters)
            else ("cannot parse the rules")
        )
        return ClaimRuleSyntaxError(reason, source=source, line=line, column=column)
    token = exc.token
    if token.type == "$END":
        lines = text.rstrip().split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    accepts = set(exc.accepts or exc.expected) - {"$END"}
    start = _int(token.start_pos, 0)
    if token.type in {"IDENT", "STRING", "NUMBER"} and start > 0 and text[start - 1] == '"':
        return ClaimRuleSyntaxError(
            "a string cannot contain a double quote: this '\"' ends the string before it "
            "(ADFS strings have no escapes; in a regular expression write \\x22 for '\"')",
            source=source,
            line=line,
            column=max(column - 1, 1),
        )
    reason = _expected_reason(accepts, token, text[:start])
    return ClaimRuleSyntaxError(reason, source=source, line=line, column=column)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default


def _bad_character(char: str) -> str:
    if char in _TYPOGRAPHIC:
        return (
            f"typographic quote {char} (copied from a web page or a word processor?): "
            'strings take straight double quotes "…"'
        )
    if char == '"':
        return "unterminated string: the closing '\"' is missing on this line"
    if char == "'":
        return 'strings are written in double quotes "…", not single quotes'
    return f"unexpected character {char!r}"


def _display(terminal: str) -> str:
    if terminal in _SPELLING:
        return _SPELLING[terminal]
    try:
        value = str(_lark().get_terminal(terminal).pattern.value).removesuffix("\\b")
    except KeyError:
        return terminal
    return value if value.isalpha() else f"'{value}'"


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the rules"
    text = str(token)
    if token.type == "STRING":
        return text if len(text) <= 40 else text[:37] + '…"'
    return f"'{text}'"


def _expected_reason(accepts: set[str], token: Token, before: str) -> str:
    found = _found(token)
    previous = re.search(r"([_A-Za-z][_A-Za-z0-9]*)\s*$", before)
    if token.type == "IDENT" and accepts & _PROP_TERMINALS and "IDENT" not in accepts:
        names = [_SPELLING[t] for t in sorted(accepts & (_PROP_TERMINALS | {"PROPERTIES"}))]
        close = difflib.get_close_matches(str(token), names, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else f" (use {', '.join(names)})"
        return f"unknown claim property '{token}'{hint}"
    if token.type == "LPAR" and accepts == {"DOT"} and previous:
        name = previous.group(1)
        close = difflib.get_close_matches(name.lower(), ["regexreplace"], n=1, cutoff=0.6)
        hint = "did you mean RegExReplace?" if close else "the only function is RegExReplace"
        return f"unknown function '{name}' ({hint})"
    if token.type == "EQ" and accepts == {"ASSIGN"}:
        return "expected '=' to set a value, found '==' ('==' only compares, inside [ ])"
    if token.type == "ASSIGN" and accepts <= {"EQ", "NE", "REGEX_MATCH", "REGEX_NOT_MATCH"}:
        return "expected '==', '!=', '=~' or '!~' in a condition, found '='"
    if accepts == {"COLON"} and previous:
        return f"expected ':' after the claim variable '{previous.group(1)}', found {found}"
    if accepts == {"SEMICOLON"}:
        return f"expected ';' at the end of the rule, found {found}"
    if "IMPLY" in accepts and "AND" in accepts:
        return f"expected '=>' after the conditions, found {found}"
    if "IMPLY" in accepts and "LSQB" in accepts:
        return f"expected a condition such as c:[Type == \"…\"] or '=>', found {found}"
    if accepts and accepts <= {"ISSUE", "ADD"}:
        return f"expected issue(…) or add(…) after '=>', found {found}"
    if accepts and accepts <= _EXPR_START:
        return f'expected a value (a "string", c.Value or RegExReplace(…)), found {found}'
    if accepts and accepts <= {"TYPES", "QUERY"}:
        wanted = 'types = ("…")' if "TYPES" in accepts else 'query = "…"'
        return (
            f"expected {wanted}, found {found} (an attribute-store action takes store, "
            "types, query and param in this order)"
        )
    if "CLAIM" in accepts and "STORE" in accepts:
        return f"expected claim = c, Type = …, or store = … in the action, found {found}"
    names = sorted(_display(t) for t in accepts)
    wanted = " or ".join(names) if len(names) <= 4 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"expected {wanted}, found {found}" if names else f"unexpected {found}"


def _trees(node: Tree[Token]) -> list[Tree[Token]]:
    return [child for child in node.children if isinstance(child, Tree)]


def _tokens(node: Tree[Token]) -> list[Token]:
    return [child for child in node.children if isinstance(child, Token)]


def _string(token: Token) -> str:
    return str(token)[1:-1]


class _Builder:
    """Turn a lark tree into dataclasses, checking variable bindings rule by rule."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.bound: dict[str, Token] = {}
        self.in_selector: str | None = None
        self.in_aggregate = False

    def error(self, reason: str, token: Token) -> ClaimRuleSyntaxError:
        return ClaimRuleSyntaxError(
            reason, source=self.source, line=_int(token.line, 1), column=_int(token.column, 1)
        )

    def slice(self, start: int, end: int) -> str:
        """Return the source between two offsets on one line (a string cannot span lines)."""
        return re.sub(r"[ \t]*\r?\n\s*", " ", self.text[start:end].strip())

    def rule(self, node: Tree[Token]) -> Rule:
        self.bound = {}
        annotations: list[tuple[str, str]] = []
        conditions: tuple[Condition, ...] = ()
        *heads, last = _trees(node)
        for child in heads:
            if child.data == "annotation":
                _, name, _, value = _tokens(child)
                annotations.append((str(name), _string(value)))
            else:
                conditions = self.conditions(child)
        action = self.action(last)
        imply = next(t for t in _tokens(node) if t.type == "IMPLY")
        first = next((c for c in heads if c.data == "conditions"), None)
        at = first.meta if first is not None else imply
        return Rule(
            tuple(annotations),
            conditions,
            action,
            _int(at.line, 1),
            _int(at.column, 1),
            self.slice(_int(at.start_pos, 0), node.meta.end_pos),
        )

    def conditions(self, node: Tree[Token]) -> tuple[Condition, ...]:
        parts = _trees(node)
        kinds = {part.data == "selector" for part in parts}
        if len(kinds) > 1:
            first = next(p for p in parts if p.data != "selector")
            raise ClaimRuleSyntaxError(
                "claim selectors and EXISTS/COUNT cannot be combined in one rule's conditions",
                source=self.source,
                line=first.meta.line,
                column=first.meta.column,
            )
        return tuple(self.condition(part) for part in parts)

    def condition(self, node: Tree[Token]) -> Condition:
        body = _trees(node)[0]
        if node.data == "selector":
            variable = _tokens(node)[0] if _tokens(node) else None
            if variable is not None and str(variable) in self.bound:
                raise self.error(
                    f"claim variable '{variable}' is bound twice in this rule", variable
                )
            self.in_selector = str(variable) if variable is not None else None
            matches = self.selector_body(body)
            self.in_selector = None
            if variable is not None:
                self.bound[str(variable)] = variable
            return Selector(
                str(variable) if variable is not None else None,
                matches,
                self.slice(node.meta.start_pos, node.meta.end_pos),
            )
        self.in_aggregate = True
        matches = self.selector_body(body)
        self.in_aggregate = False
        text = self.slice(node.meta.start_pos, node.meta.end_pos)
        if node.data == "exists":
            negated = any(t.type == "NOT" for t in _tokens(node))
            return Aggregate("not exists" if negated else "exists", matches, text)
        compare = _trees(node)[1]
        number = _tokens(node)[-1]
        return Aggregate("count", matches, text, str(_tokens(compare)[0]), int(str(number)))

    def selector_body(self, node: Tree[Token]) -> tuple[Match, ...]:
        matches = []
        for match in _trees(node):
            prop, operator, expr = _trees(match)
            token = _tokens(prop)[0]
            matches.append(
                Match(
                    _PROPS[str(token).lower()],
                    MatchOperator(str(_tokens(operator)[0])),
                    self.expr(expr),
                    _int(token.line, 1),
                    _int(token.column, 1),
                )
            )
        return tuple(matches)

    def action(self, node: Tree[Token]) -> Action:
        keyword = _tokens(node)[0]
        kind: Literal["issue", "add"] = "issue" if keyword.type == "ISSUE" else "add"
        statement = _trees(node)[0]
        if statement.data == "copy":
            variable = _tokens(statement)[-1]
            self.use(variable)
            return Action(kind, CopyClaim(str(variable)))
        if statement.data == "store":
            name, types, query, *params = _trees(statement)
            store = _tokens(name)[-1]
            return Action(
                kind,
                StoreQuery(
                    _string(store),
                    tuple(_string(t) for t in _tokens(types) if t.type == "STRING"),
                    _string(_tokens(query)[-1]),
                    tuple(self.expr(_trees(p)[0]) for p in params),
                    _int(store.line, 1),
                    _int(store.column, 1),
                ),
            )
        return Action(kind, self.new_claim(statement, keyword))

    def new_claim(self, node: Tree[Token], keyword: Token) -> NewClaim:
        assignments: list[Assignment] = []
        seen: set[str] = set()
        for child in _trees(node):
            if child.data == "property_assignment":
                first, name = _tokens(child)[0], _string(_tokens(child)[2])
                key, assignment = (
                    f'Properties["{name}"]',
                    Assignment(self.expr(_trees(child)[-1]), property_name=name),
                )
            else:
                first = _tokens(_trees(child)[0])[0]
                prop = _PROPS[str(first).lower()]
                key, assignment = prop.value, Assignment(self.expr(_trees(child)[-1]), prop=prop)
            if key in seen:
                raise self.error(f"{key} is set twice in this {keyword.lower()}(…)", first)
            seen.add(key)
            assignments.append(assignment)
        if ClaimProperty.TYPE.value not in seen:
            raise self.error(f"{keyword.lower()}(…) needs Type = … for the new claim", keyword)
        return NewClaim(tuple(assignments))

    def use(self, variable: Token) -> None:
        name = str(variable)
        if self.in_aggregate:
            raise self.error(f"EXISTS/COUNT cannot refer to the claim variable '{name}'", variable)
        if name == self.in_selector:
            raise self.error(f"a selector cannot use its own variable '{name}'", variable)
        if name not in self.bound:
            where = "an earlier condition" if self.in_selector is not None else "a condition"
            raise self.error(
                f"'{name}' is not bound by {where} of this rule (bind it with {name}:[…])", variable
            )

    def expr(self, node: Tree[Token]) -> Expr:
        parts = tuple(self.term(child) for child in _trees(node))
        return parts[0] if len(parts) == 1 else Concat(parts)

    def term(self, node: Tree[Token]) -> Expr:
        tokens = _tokens(node)
        if node.data == "literal":
            return StringLiteral(_string(tokens[0]))
        if node.data == "regex_replace":
            value, pattern, replacement = (self.expr(child) for child in _trees(node))
            return RegexReplace(value, pattern, replacement)
        self.use(tokens[0])
        if node.data == "property_ref":
            return PropertyRef(str(tokens[0]), _string(tokens[-2]))
        return ClaimRef(str(tokens[0]), _PROPS[str(_tokens(_trees(node)[0])[0]).lower()])
