"""Emulate ADFS issuance transform rules: the claim rule language run as ADFS runs it.

The rules see the Active Directory claims provider's claims (``adfs_store``) and run in order over
a working set; ``add`` feeds later rules only, ``issue`` also outputs; a rule fires once per
combination of matching claims, an EXISTS/COUNT rule once; output claims are de-duplicated by
type and value (reference idp-mappings.md §1.3). Issued claims become SAML attributes named by
claim type, without NameFormat or xsi:type unless the ``attributename`` claim property sets a
NameFormat (as ADFS assertions look; unverified); the ``nameidentifier`` claim is the NameID,
reported in the trace (:func:`issued_name_id`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from idp.directory import Directory
from idp.errors import MappingError
from idp.mapping import adfs_parser as ast
from idp.mapping.adfs_store import ActiveDirectoryStore, StoreSettings
from idp.mapping.base import MappingInput, MappingResult, TraceStep
from idp.mapping.dotnet_regex import DotnetRegexError, compile_dotnet, replace_all, replacer
from idp.saml.builder import SamlAttribute

XS_STRING = "http://www.w3.org/2001/XMLSchema#string"
AD_AUTHORITY = "AD AUTHORITY"
LOCAL_AUTHORITY = "LOCAL AUTHORITY"
NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
NAME_ID_FORMAT = "http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format"
ATTRIBUTE_NAME_FORMAT = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/attributename"
)
MAX_COMBINATIONS = 100_000
"""A rule matching more claim combinations than this is refused rather than run for minutes."""
NAME_ID_TRACE_RULE = "adfs: NameID"
"""``TraceStep.rule`` of the step that carries the issued NameID (value in ``produced``)."""


class AdfsInputClaims(BaseModel):
    """Which claims the Active Directory claims provider hands to the rules."""

    model_config = ConfigDict(extra="forbid")

    group_sids: bool = Field(
        True,
        description="One groupsid claim per group (transitive), as "
        "ADFS's Active Directory claims provider trust passes by default.",
    )
    group_names: bool = Field(
        False,
        description="Also one http://schemas.xmlsoap.org/claims/Group "
        "claim per group name (not ADFS's default; for setups whose "
        "claims provider trust adds them).",
    )


class AdfsMappingConfig(BaseModel):
    """ADFS relying-party issuance transform rules, pasted or exported, and the AD they read."""

    model_config = ConfigDict(extra="forbid")

    rules: str | None = Field(None, description="The claim rules, as ADFS exports them.")
    rules_file: Path | None = Field(
        None,
        description="File holding the claim rules, relative to the scenario file "
        "(UTF-8 or the UTF-16 that PowerShell's Out-File writes).",
    )
    domain: str = Field(
        "CORP",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$",
        description="NetBIOS domain name: windowsaccountname is DOMAIN\\user.",
    )
    dns_domain: str = Field(
        "corp.example",
        pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$",
        description="DNS domain: DC= parts of made-up group DNs, and "
        "tokenGroups(longDomainQualifiedName).",
    )
    domain_sid: str = Field(
        "S-1-5-21-1004336348-1177238915-682003330",
        pattern=r"^S-1-5-21(-\d+){3}$",
        description="Domain SID under which SIDs are made up for users and "
        "groups the directory gives none.",
    )
    input_claims: AdfsInputClaims = Field(default_factory=AdfsInputClaims)

    @model_validator(mode="after")
    def _one_source(self) -> AdfsMappingConfig:
        if (self.rules is None) == (self.rules_file is None):
            raise ValueError("give exactly one of 'rules' (inline) or 'rules_file'")
        return self


class Claim(NamedTuple):
    """A claim in the working or output set."""

    type: str
    value: str
    value_type: str = XS_STRING
    issuer: str = LOCAL_AUTHORITY
    original_issuer: str = LOCAL_AUTHORITY
    properties: tuple[tuple[str, str], ...] = ()

    def property(self, name: str) -> str:
        """Return ``Properties[name]``, empty when absent (as ADFS does)."""
        return next((value for key, value in self.properties if key == name), "")


@dataclass(frozen=True)
class IssuedNameId:
    """The NameID an ADFS rule set issued."""

    value: str
    format: str | None


def issued_name_id(result: MappingResult) -> IssuedNameId | None:
    """Return the NameID the rules issued, read from ``result``'s trace (None if none)."""
    for step in result.trace:
        if step.rule == NAME_ID_TRACE_RULE and step.produced:
            found = re.search(r"\(format (.+)\)$", step.matched)
            return IssuedNameId(step.produced[0], found.group(1) if found else None)
    return None


Bindings = dict[str, Claim]
_GET: dict[ast.ClaimProperty, Callable[[Claim], str]] = {
    ast.ClaimProperty.TYPE: lambda c: c.type,
    ast.ClaimProperty.VALUE: lambda c: c.value,
    ast.ClaimProperty.VALUE_TYPE: lambda c: c.value_type,
    ast.ClaimProperty.ISSUER: lambda c: c.issuer,
    ast.ClaimProperty.ORIGINAL_ISSUER: lambda c: c.original_issuer,
}


Evaluator = Callable[[Bindings, list[str]], str]
"""A compiled expression: bindings and a list for trace notes in, a string out."""


def _constant(value: str) -> Evaluator:
    return lambda bindings, notes: value


def _compile(expr: ast.Expr) -> Evaluator:
    """Compile an expression; literal regex patterns are translated now (DotnetRegexError)."""
    if isinstance(expr, ast.StringLiteral):
        return _constant(expr.value)
    if isinstance(expr, ast.ClaimRef):
        get, variable = _GET[expr.prop], expr.variable
        return lambda bindings, notes: get(bindings[variable])
    if isinstance(expr, ast.PropertyRef):
        variable, name = expr.variable, expr.name
        return lambda bindings, notes: bindings[variable].property(name)
    if isinstance(expr, ast.Concat):
        parts = [_compile(part) for part in expr.parts]
        return lambda bindings, notes: "".join(part(bindings, notes) for part in parts)
    value = _compile(expr.input)
    if isinstance(expr.pattern, ast.StringLiteral) and isinstance(
        expr.replacement, ast.StringLiteral
    ):
        pattern = expr.pattern.value
        subn = compile_dotnet(pattern).subn  # .NET semantics after an empty match
        replacement = replacer(expr.replacement.value, pattern)

        def replace_literal(bindings: Bindings, notes: list[str]) -> str:
            text = value(bindings, notes)
            result, count = subn(replacement, text)
            if count != 1:
                notes.append(_replace_note(pattern, text, count))
            return result

        return replace_literal
    if isinstance(expr.pattern, ast.StringLiteral):
        compile_dotnet(expr.pattern.value)
    pattern_of, replacement_of = _compile(expr.pattern), _compile(expr.replacement)

    def replace(bindings: Bindings, notes: list[str]) -> str:
        text, pattern = value(bindings, notes), pattern_of(bindings, notes)
        result, count = replace_all(text, pattern, replacement_of(bindings, notes))
        if count != 1:
            notes.append(_replace_note(pattern, text, count))
        return result

    return replace


def _replace_note(pattern: str, text: str, count: int) -> str:
    if count == 0:
        return f'RegExReplace: "{pattern}" does not match "{text}", value unchanged'
    return f'RegExReplace: "{pattern}" replaced {count} matches in "{text}"'


Test = Callable[[Claim, Bindings], bool]
_REGEX_OPERATORS = (ast.MatchOperator.MATCHES, ast.MatchOperator.NOT_MATCHES)
_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "==": int.__eq__,
    "!=": int.__ne__,
    ">": int.__gt__,
    ">=": int.__ge__,
    "<": int.__lt__,
    "<=": int.__le__,
}


def _test(match: ast.Match) -> Test:
    get, operator, expr = _GET[match.prop], match.operator, match.expr
    if isinstance(expr, ast.StringLiteral):
        literal = expr.value
        if operator is ast.MatchOperator.EQUAL:
            return lambda claim, _: get(claim) == literal
        if operator is ast.MatchOperator.NOT_EQUAL:
            return lambda claim, _: get(claim) != literal
        search = compile_dotnet(literal).compiled.search
        if operator is ast.MatchOperator.MATCHES:
            return lambda claim, _: search(get(claim)) is not None
        return lambda claim, _: search(get(claim)) is None
    wanted_of = _compile(expr)

    def dynamic(claim: Claim, bindings: Bindings) -> bool:
        wanted = wanted_of(bindings, [])
        if operator is ast.MatchOperator.EQUAL:
            return get(claim) == wanted
        if operator is ast.MatchOperator.NOT_EQUAL:
            return get(claim) != wanted
        found = compile_dotnet(wanted).compiled.search(get(claim)) is not None
        return found == (operator is ast.MatchOperator.MATCHES)

    return dynamic


def _match_text(match: ast.Match) -> str:
    expr = match.expr
    shown = f'"{expr.value}"' if isinstance(expr, ast.StringLiteral) else "(expression)"
    return f"{match.prop.value} {match.operator.value} {shown}"


class _Selector:
    """A selector ready to run: an indexed Type, then the remaining tests in order."""

    def __init__(self, matches: tuple[ast.Match, ...], text: str, key: str) -> None:
        self.text, self.key = text, key
        self.type: str | None = None
        rest = list(matches)
        for match in matches:
            if (
                match.prop is ast.ClaimProperty.TYPE
                and match.operator is ast.MatchOperator.EQUAL
                and isinstance(match.expr, ast.StringLiteral)
            ):
                self.type = match.expr.value
                rest.remove(match)
                break
        self.tests = tuple((_test(match), _match_text(match)) for match in rest)
        self.listed = tuple(match.operator in _REGEX_OPERATORS for match in rest)
        """Per test: list each claim failing it in the trace (regexes), else only count them."""

    def candidates(self, working: _WorkingSet) -> list[Claim]:
        return working.by_type.get(self.type, []) if self.type is not None else working.claims

    def failure(self, claim: Claim, bindings: Bindings) -> int:
        """Return the index of the first test ``claim`` fails, or -1 when it passes all."""
        for index, (test, _) in enumerate(self.tests):
            if not test(claim, bindings):
                return index
        return -1


class _WorkingSet:
    def __init__(self) -> None:
        self.claims: list[Claim] = []
        self.by_type: dict[str, list[Claim]] = {}

    def extend(self, claims: list[Claim]) -> None:
        self.claims.extend(claims)
        by_type = self.by_type
        for claim in claims:
            found = by_type.get(claim.type)
            if found is None:
                by_type[claim.type] = [claim]
            else:
                found.append(claim)


Maker = Callable[[Bindings, MappingInput, list[str]], list[Claim]]
"""A compiled action: the claims one firing produces (notes collected for the trace)."""


class _Rule:
    """A parsed rule with compiled selectors and action, and its trace label."""

    def __init__(
        self, rule: ast.Rule, index: int, store: ActiveDirectoryStore, source: str
    ) -> None:
        self.rule, self.store, self.kind = rule, store, rule.action.kind
        self.label = (
            f'rule {index} "{rule.name}"'
            if rule.name is not None
            else f"rule {index} (line {rule.line})"
        )
        self.where = f"{source}:{rule.line}:{rule.column}"
        statement = rule.action.statement
        for match in (match for condition in rule.conditions for match in condition.matches):
            try:
                if match.operator in _REGEX_OPERATORS:
                    _test(match)
            except DotnetRegexError as exc:
                raise ast.ClaimRuleSyntaxError(
                    exc.message, source=source, line=match.line, column=match.column
                ) from None
        try:
            self.selectors = [
                _Selector(c.matches, c.text, c.variable or f"#{n}")
                for n, c in enumerate(rule.conditions)
                if isinstance(c, ast.Selector)
            ]
            self.aggregates = [
                (c, _Selector(c.matches, c.text, ""))
                for c in rule.conditions
                if isinstance(c, ast.Aggregate)
            ]
            self.make = self._compile_action(statement)
        except DotnetRegexError as exc:
            raise ast.ClaimRuleSyntaxError(
                exc.message, source=source, line=rule.line, column=rule.column
            ) from None
        if isinstance(statement, ast.StoreQuery):
            try:
                store.check(statement)
            except MappingError as exc:
                raise ast.ClaimRuleSyntaxError(
                    exc.message, source=source, line=statement.line, column=statement.column
                ) from None

    def _compile_action(self, statement: ast.Statement) -> Maker:
        if isinstance(statement, ast.CopyClaim):
            variable = statement.variable
            if self.kind == "add":
                return _no_effect
            return lambda bindings, subject, notes: [bindings[variable]]
        if isinstance(statement, ast.StoreQuery):
            params, query, store = [_compile(p) for p in statement.params], statement, self.store

            def from_store(
                bindings: Bindings, subject: MappingInput, notes: list[str]
            ) -> list[Claim]:
                values = [param(bindings, notes) for param in params]
                return [
                    Claim(claim_type, value, XS_STRING, AD_AUTHORITY, AD_AUTHORITY)
                    for claim_type, value in store.query(query, values, subject, notes)
                ]

            return from_store
        fields = {a.prop: _compile(a.expr) for a in statement.assignments if a.prop is not None}
        properties = [
            (a.property_name or "", _compile(a.expr))
            for a in statement.assignments
            if a.prop is None
        ]
        type_of = fields[ast.ClaimProperty.TYPE]
        value_of = fields.get(ast.ClaimProperty.VALUE, _constant(""))
        rest = [
            fields.get(ast.ClaimProperty.VALUE_TYPE),
            fields.get(ast.ClaimProperty.ISSUER),
            fields.get(ast.ClaimProperty.ORIGINAL_ISSUER),
        ]
        if not properties and rest == [None, None, None]:
            return lambda bindings, subject, notes: [
                Claim(type_of(bindings, notes), value_of(bindings, notes))
            ]
        value_type_of, issuer_of, original_of = (
            found or _constant(default)
            for found, default in zip(
                rest, (XS_STRING, LOCAL_AUTHORITY, LOCAL_AUTHORITY), strict=True
            )
        )

        def new_claim(bindings: Bindings, subject: MappingInput, notes: list[str]) -> list[Claim]:
            return [
                Claim(
                    type_of(bindings, notes),
                    value_of(bindings, notes),
                    value_type_of(bindings, notes),
                    issuer_of(bindings, notes),
                    original_of(bindings, notes),
                    tuple((name, value(bindings, notes)) for name, value in properties),
                )
            ]

        return new_claim

    def run(
        self, working: _WorkingSet, subject: MappingInput, trace: list[TraceStep]
    ) -> list[Claim]:
        """Run the action once per match; return the claims it issued or added, in order.

        What only fails with a user's claims (a regex built from a claim value, too many
        combinations) is reported at the rule, as ``source:line:column: rule …: problem``.
        """
        try:
            return self._run(working, subject, trace)
        except MappingError as exc:
            raise MappingError(f"{self.where}: {self.label}: {exc.message}") from None

    def _run(
        self, working: _WorkingSet, subject: MappingInput, trace: list[TraceStep]
    ) -> list[Claim]:
        produced: list[Claim] = []
        for bindings in self.bindings(working, trace):
            notes: list[str] = []
            claims = self.make(bindings, subject, notes)
            produced.extend(claims)
            trace.append(self.step(bindings, claims, notes))
        return produced

    def bindings(self, working: _WorkingSet, trace: list[TraceStep]) -> list[Bindings]:
        """Return every combination of claims that satisfies the conditions."""
        for condition, selector in self.aggregates:
            count = sum(
                1 for claim in selector.candidates(working) if selector.failure(claim, {}) < 0
            )
            if not _holds(condition, count):
                trace.append(
                    TraceStep(
                        self.label,
                        f"{condition.text} is false ({count} matching claim{'s' * (count != 1)})",
                    )
                )
                return []
        combos: list[Bindings] = [{}]
        for position, selector in enumerate(self.selectors):
            candidates = list(selector.candidates(working))
            extended: list[Bindings] = []
            key, indexed = selector.key, selector.type is not None
            counted: dict[int, int] = {}
            for bindings in combos:
                for claim in candidates:
                    failed = selector.failure(claim, bindings)
                    if failed < 0:
                        extended.append({**bindings, key: claim})
                    elif position > 0 or not (indexed or failed > 0):
                        continue
                    elif selector.listed[failed]:
                        trace.append(
                            TraceStep(
                                self.label,
                                f'{claim.type} "{claim.value}": '
                                f"{selector.tests[failed][1]} is false",
                            )
                        )
                    else:
                        counted[failed] = counted.get(failed, 0) + 1
                for failed, count in counted.items():
                    kind = f" of type {selector.type}" if indexed else ""
                    trace.append(
                        TraceStep(
                            self.label,
                            f"{count} claim{'s' * (count > 1)}{kind}: "
                            f"{selector.tests[failed][1]} is false",
                        )
                    )
                if len(extended) > MAX_COMBINATIONS:
                    raise MappingError(
                        f"matches more than {MAX_COMBINATIONS} claim "
                        "combinations (selectors that each match many claims)"
                    )
            combos = extended
            if not combos:
                trace.append(TraceStep(self.label, f"no claim matches {selector.text}"))
                return []
        return combos

    def step(self, bindings: Bindings, claims: list[Claim], notes: list[str]) -> TraceStep:
        """Describe one firing: the claims it matched, what it did, any notes."""
        matched = (
            ", ".join(
                f'{key} = {claim.type} "{claim.value}"'
                for key, claim in bindings.items()
                if key[0] != "#"
            )
            or "(always)"
        )
        if len(claims) == 1:
            action = f"{self.kind} {claims[0].type}"
        else:
            types = sorted({claim.type for claim in claims})
            action = f"{self.kind} {', '.join(types)}" if types else f"{self.kind}: nothing"
        if notes:
            action += "".join(f"; {note}" for note in notes)
        return TraceStep(
            self.label, f"{matched} → {action}", tuple(claim.value for claim in claims)
        )


def _no_effect(bindings: Bindings, subject: MappingInput, notes: list[str]) -> list[Claim]:
    """``add(claim = c)``: Microsoft documents that it "does not have any effect"."""
    notes.append("add(claim = …) has no effect: the claim is already there")
    return []


def _holds(condition: ast.Aggregate, count: int) -> bool:
    if condition.kind != "count":
        return (count > 0) == (condition.kind == "exists")
    return _COMPARISONS[condition.comparison or ">"](count, condition.number or 0)


def _read_rules(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the ADFS claim rules: {exc.strerror}") from None
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{path}: the ADFS claim rules are not {encoding} text (byte {exc.start})"
        ) from None


class AdfsMapping:
    """Run an ADFS rule set for a user and return the attributes ADFS would send."""

    name = "adfs"

    def __init__(
        self,
        config: AdfsMappingConfig,
        *,
        base_dir: Path = Path(),
        directory: Directory | None = None,
    ) -> None:
        self.config = config
        if config.rules_file is not None:
            path = base_dir / config.rules_file
            text, source = _read_rules(path), str(path)
        else:
            text, source = config.rules or "", "rules"
        self.rule_set = ast.parse_rules(text, source=source)
        self.store = ActiveDirectoryStore(
            StoreSettings(config.domain, config.dns_domain, config.domain_sid), directory
        )
        self._rules = [
            _Rule(rule, index, self.store, source)
            for index, rule in enumerate(self.rule_set.rules, 1)
        ]

    def input_claims(self, subject: MappingInput) -> list[Claim]:
        """Return the claims ADFS's Active Directory claims provider gives the rules."""
        options = self.config.input_claims
        return [
            Claim(claim_type, value, XS_STRING, AD_AUTHORITY, AD_AUTHORITY)
            for claim_type, value in self.store.input_claims(
                subject, group_sids=options.group_sids, group_names=options.group_names
            )
        ]

    def map(self, subject: MappingInput) -> MappingResult:
        """Run the rules in order and turn the issued claims into SAML attributes."""
        working = _WorkingSet()
        inputs = self.input_claims(subject)
        working.extend(inputs)
        counts = Counter(claim.type.rsplit("/", 1)[-1] for claim in inputs)
        summary = ", ".join(f"{n} × {kind}" if n > 1 else kind for kind, n in counts.items())
        trace = [
            TraceStep("adfs: Active Directory claims provider", f"{inputs[0].value}: {summary}")
        ]
        issued: dict[tuple[str, str], Claim] = {}
        for rule in self._rules:
            produced = rule.run(working, subject, trace)
            working.extend(produced)
            if rule.kind == "issue":
                for claim in produced:
                    issued.setdefault((claim.type, claim.value), claim)
        return MappingResult(*self._attributes(list(issued.values()), trace))

    def _attributes(
        self, claims: list[Claim], trace: list[TraceStep]
    ) -> tuple[tuple[SamlAttribute, ...], tuple[TraceStep, ...]]:
        values: dict[str, list[str]] = {}
        formats: dict[str, str] = {}
        name_ids = [claim for claim in claims if claim.type == NAME_ID]
        for claim in claims:
            if claim.type != NAME_ID:
                values.setdefault(claim.type, []).append(claim.value)
                formats.setdefault(claim.type, claim.property(ATTRIBUTE_NAME_FORMAT))
        if name_ids:
            name_id = name_ids[0]
            extra = f"; {len(name_ids) - 1} more ignored" if len(name_ids) > 1 else ""
            fmt = name_id.property(NAME_ID_FORMAT)
            trace.append(
                TraceStep(
                    NAME_ID_TRACE_RULE,
                    f"claim {NAME_ID}{extra}" + (f" (format {fmt})" if fmt else ""),
                    (name_id.value,),
                )
            )
        else:
            trace.append(TraceStep(NAME_ID_TRACE_RULE, "no nameidentifier claim was issued"))
        attributes = tuple(
            SamlAttribute(name, tuple(found), formats[name] or None, value_type=None)
            for name, found in values.items()
        )
        return attributes, tuple(trace)
