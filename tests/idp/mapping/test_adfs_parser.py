"""The ADFS claim rule parser: every construct, malformed rule sets, and no crash on any text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.errors import MappingError
from idp.mapping.adfs import AdfsMapping, AdfsMappingConfig
from idp.mapping.adfs_parser import (
    Aggregate,
    Assignment,
    ClaimProperty,
    ClaimRef,
    ClaimRuleSyntaxError,
    Concat,
    CopyClaim,
    Match,
    MatchOperator,
    NewClaim,
    PropertyRef,
    RegexReplace,
    Rule,
    Selector,
    StoreQuery,
    StringLiteral,
    parse_rules,
)

DATA = Path(__file__).parent.parent.parent / "data" / "adfs"
WINDOWS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"


def one_rule(text: str) -> Rule:
    (rule,) = parse_rules(text).rules
    return rule


# --- constructs -------------------------------------------------------------------------------


def test_aws_blog_rule_set_parses_into_four_rules() -> None:
    rule_set = parse_rules((DATA / "aws-blog.rules").read_text(), source="aws-blog.rules")
    assert [rule.name for rule in rule_set.rules] == [
        "NameId",
        "RoleSessionName",
        "Get AD Groups",
        "Roles",
    ]
    assert rule_set.rules[0].annotations == (("RuleTemplate", "MapClaims"), ("RuleName", "NameId"))
    assert [rule.action.kind for rule in rule_set.rules] == ["issue", "issue", "add", "issue"]
    assert (rule_set.rules[3].line, rule_set.rules[3].column) == (13, 1)
    assert rule_set.rules[3].text.startswith('c:[Type == "http://temp/variable", Value =~')
    assert rule_set.rules[3].text.endswith('role/ADFS-"));')
    assert rule_set.source == "aws-blog.rules"


def test_selector_with_variable_and_matches() -> None:
    rule = one_rule(f'c:[Type == "{WINDOWS}", Issuer == "AD AUTHORITY"] => issue(claim = c);')
    (selector,) = rule.conditions
    assert isinstance(selector, Selector)
    assert selector.variable == "c"
    assert [(m.prop, m.operator, m.expr) for m in selector.matches] == [
        (ClaimProperty.TYPE, MatchOperator.EQUAL, StringLiteral(WINDOWS)),
        (ClaimProperty.ISSUER, MatchOperator.EQUAL, StringLiteral("AD AUTHORITY")),
    ]
    assert rule.action.statement == CopyClaim("c")


@pytest.mark.parametrize("prop", list(ClaimProperty), ids=lambda p: p.value)
@pytest.mark.parametrize("operator", list(MatchOperator), ids=lambda o: o.name)
def test_every_property_with_every_operator(prop: ClaimProperty, operator: MatchOperator) -> None:
    rule = one_rule(f'[{prop.value} {operator.value} "x"] => issue(Type = "t");')
    (selector,) = rule.conditions
    assert isinstance(selector, Selector)
    assert selector.variable is None
    assert selector.matches == (Match(prop, operator, StringLiteral("x"), 1, 2),)


def test_empty_conditions_and_empty_selector() -> None:
    assert one_rule('=> issue(Type = "t", Value = "v");').conditions == ()
    (selector,) = one_rule("c:[] => issue(claim = c);").conditions
    assert isinstance(selector, Selector) and selector.matches == ()


def test_conjunction_of_selectors_with_a_join() -> None:
    rule = one_rule(
        'c1:[Type == "a"] && c2:[Type == "b", Value == c1.Value] '
        '&& [Type == "c"] => issue(claim = c2);'
    )
    first, second, third = rule.conditions
    assert isinstance(second, Selector) and isinstance(third, Selector)
    assert second.matches[1].expr == ClaimRef("c1", ClaimProperty.VALUE)
    assert (second.variable, third.variable) == ("c2", None)
    assert second.text == 'c2:[Type == "b", Value == c1.Value]'


def test_aggregates() -> None:
    rule = one_rule(
        'EXISTS([Type == "a"]) && NOT EXISTS([Value =~ "b"]) && COUNT([]) >= 2 '
        '=> issue(Type = "t");'
    )
    exists, not_exists, count = rule.conditions
    type_is_a = Match(ClaimProperty.TYPE, MatchOperator.EQUAL, StringLiteral("a"), 1, 9)
    assert exists == Aggregate("exists", (type_is_a,), 'EXISTS([Type == "a"])')
    assert isinstance(not_exists, Aggregate) and not_exists.kind == "not exists"
    assert isinstance(count, Aggregate)
    assert (count.kind, count.comparison, count.number) == ("count", ">=", 2)


@pytest.mark.parametrize("comparison", ["==", "!=", ">", ">=", "<", "<="])
def test_count_comparisons(comparison: str) -> None:
    (count,) = one_rule(f'COUNT([]) {comparison} 10 => issue(Type = "t");').conditions
    assert isinstance(count, Aggregate)
    assert (count.comparison, count.number) == (comparison, 10)


def test_new_claim_with_every_property_and_claim_properties() -> None:
    rule = one_rule(
        'c:[] => add(Type = "t", Value = c.Value, ValueType = c.ValueType, '
        "Issuer = c.Issuer, OriginalIssuer = c.OriginalIssuer, "
        'Properties["http://p/format"] = c.Properties["http://p/in"]);'
    )
    assert rule.action.kind == "add"
    statement = rule.action.statement
    assert isinstance(statement, NewClaim)
    assert statement.assignments == (
        Assignment(StringLiteral("t"), prop=ClaimProperty.TYPE),
        Assignment(ClaimRef("c", ClaimProperty.VALUE), prop=ClaimProperty.VALUE),
        Assignment(ClaimRef("c", ClaimProperty.VALUE_TYPE), prop=ClaimProperty.VALUE_TYPE),
        Assignment(ClaimRef("c", ClaimProperty.ISSUER), prop=ClaimProperty.ISSUER),
        Assignment(
            ClaimRef("c", ClaimProperty.ORIGINAL_ISSUER), prop=ClaimProperty.ORIGINAL_ISSUER
        ),
        Assignment(PropertyRef("c", "http://p/in"), property_name="http://p/format"),
    )


def test_assignments_in_any_order() -> None:
    statement = one_rule('=> issue(Value = "v", Type = "t");').action.statement
    assert isinstance(statement, NewClaim)
    assert [a.prop for a in statement.assignments] == [ClaimProperty.VALUE, ClaimProperty.TYPE]


def test_concatenation_and_nested_regex_replace() -> None:
    statement = one_rule(
        'c:[] => issue(Type = "t", Value = "Hello " + RegExReplace('
        'RegExReplace(c.Value, "a", "b"), "^(?<x>.)", "${x}") + c.Type);'
    ).action.statement
    assert isinstance(statement, NewClaim)
    value = statement.assignments[1].expr
    assert value == Concat(
        (
            StringLiteral("Hello "),
            RegexReplace(
                RegexReplace(
                    ClaimRef("c", ClaimProperty.VALUE), StringLiteral("a"), StringLiteral("b")
                ),
                StringLiteral("^(?<x>.)"),
                StringLiteral("${x}"),
            ),
            ClaimRef("c", ClaimProperty.TYPE),
        )
    )


def test_attribute_store_form() -> None:
    rule = one_rule(
        f'c:[Type == "{WINDOWS}"]\n => issue(store = "Active Directory", '
        'types = ("http://a", "http://b"), query = ";mail,sn;{0}", '
        'param = c.Value, param = "x");'
    )
    assert rule.action.statement == StoreQuery(
        "Active Directory",
        ("http://a", "http://b"),
        ";mail,sn;{0}",
        (ClaimRef("c", ClaimProperty.VALUE), StringLiteral("x")),
        2,
        19,
    )


def test_attribute_store_without_param() -> None:
    statement = one_rule(
        '=> add(store = "Active Directory", types = ("t"), query = ";mail;x");'
    ).action.statement
    assert isinstance(statement, StoreQuery) and statement.params == ()


@pytest.mark.parametrize(
    "text",
    [
        'C:[TYPE == "x"] => ISSUE(CLAIM = C);',
        'c:[type == "x"] => issue(claim = c);',
        'c:[tYpE == "x"] => IsSuE(ClAiM = c);',
    ],
    ids=["upper", "lower", "mixed"],
)
def test_keywords_are_case_insensitive(text: str) -> None:
    rule = one_rule(text)
    assert rule.action.kind == "issue"
    (selector,) = rule.conditions
    assert isinstance(selector, Selector) and selector.matches[0].prop is ClaimProperty.TYPE


def test_keyword_spellings_of_functions_and_aggregates() -> None:
    rule = one_rule(
        'exists([type == "a"]) && not Exists([]) && count([]) > 0 '
        '=> issue(type = "t", value = regexreplace("a", "a", "b"));'
    )
    assert [c.kind for c in rule.conditions if isinstance(c, Aggregate)] == [
        "exists",
        "not exists",
        "count",
    ]


def test_identifier_that_starts_with_a_keyword() -> None:
    rule = one_rule('typed:[Type == "x"] => issue(claim = typed);')
    assert rule.action.statement == CopyClaim("typed")


def test_strings_keep_backslashes_and_single_quotes() -> None:
    (selector,) = one_rule(r"""c:[Value =~ "^CORP\\[\w']+$"] => issue(claim = c);""").conditions
    assert isinstance(selector, Selector)
    assert selector.matches[0].expr == StringLiteral(r"^CORP\\[\w']+$")


def test_whitespace_line_breaks_bom_and_crlf_are_insignificant() -> None:
    text = '\ufeff@RuleName = "x"\r\nc:\r\n[\tType\r\n==\r\n"a"\r\n]\r\n=>\r\nissue(claim=c)\r\n;'
    rule = one_rule(text)
    assert (rule.name, rule.line, rule.column) == ("x", 2, 1)


def test_empty_rule_set() -> None:
    assert parse_rules("").rules == ()
    assert parse_rules("  \n\t\n").rules == ()


def test_rule_without_rulename_has_no_name() -> None:
    assert one_rule('@RuleTemplate = "x"\n=> issue(Type = "t");').name is None


def test_rulename_annotation_is_case_insensitive() -> None:
    assert one_rule('@rulename = "Roles"\n=> issue(Type = "t");').name == "Roles"


def test_parse_is_cached_for_the_same_text() -> None:
    text = '=> issue(Type = "cached");'
    assert parse_rules(text) is parse_rules(text)


def test_multi_account_and_ams_fixtures_parse() -> None:
    for name in ("multi-account.rules", "ams.rules", "case-fixed.rules"):
        assert len(parse_rules((DATA / name).read_text()).rules) == 4


# --- malformed rule sets ------------------------------------------------------------------------

MALFORMED: list[dict[str, Any]] = yaml.safe_load((DATA / "malformed.yaml").read_text())


@pytest.mark.parametrize("case", MALFORMED, ids=[case["id"] for case in MALFORMED])
def test_malformed_rule_sets_point_at_line_and_column(case: dict[str, Any]) -> None:
    with pytest.raises(ClaimRuleSyntaxError) as caught:
        AdfsMapping(AdfsMappingConfig(rules=case["rules"]))
    error = caught.value
    assert (error.line, error.column) == (case["line"], case["column"])
    assert case["message"] in error.reason
    assert str(error) == f"rules:{case['line']}:{case['column']}: {error.reason}"


def test_there_are_at_least_twenty_malformed_cases() -> None:
    assert len(MALFORMED) >= 20


def test_error_names_the_source_file() -> None:
    with pytest.raises(ClaimRuleSyntaxError) as caught:
        parse_rules(
            '@RuleName = "a"\n\n\n\n\n\nc:[Type == "x"] ; issue(claim = c);', source="rules.txt"
        )
    assert str(caught.value) == "rules.txt:7:17: expected '=>' after the conditions, found ';'"
    assert isinstance(caught.value, MappingError)
    assert caught.value.code == "claim_rule_syntax"


# --- never anything but ClaimRuleSyntaxError ------------------------------------------------

TOKENS = [
    "c",
    "c1",
    ":",
    "[",
    "]",
    "(",
    ")",
    ",",
    ";",
    ".",
    "=>",
    "==",
    "!=",
    "=~",
    "!~",
    "=",
    "&&",
    "+",
    ">",
    ">=",
    "@",
    '"x"',
    '"',
    "“",
    "Type",
    "Value",
    "ValueType",
    "Issuer",
    "Properties",
    "issue",
    "add",
    "claim",
    "store",
    "types",
    "query",
    "param",
    "EXISTS",
    "NOT",
    "COUNT",
    "RegExReplace",
    "12",
    " ",
    "\n",
    "\\",
    "#",
    "x",
]


def assert_parses_or_syntax_error(text: str) -> None:
    try:
        parse_rules(text)
    except ClaimRuleSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    assert_parses_or_syntax_error(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_token_soup_never_crashes_the_parser(text: str) -> None:
    assert_parses_or_syntax_error(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_aws_blog_rules_never_crash_the_parser(data: st.DataObject) -> None:
    text = (DATA / "aws-blog.rules").read_text()
    position = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 10))
    insert = data.draw(st.sampled_from(TOKENS))
    assert_parses_or_syntax_error(text[:position] + insert + text[position + cut :])
