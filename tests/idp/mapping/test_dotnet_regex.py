""".NET regular expressions as ADFS runs them, translated to Python's ``re``."""

from __future__ import annotations

import re
import warnings

import pytest

from idp.errors import MappingError
from idp.mapping.dotnet_regex import (
    DotnetRegexError,
    compile_dotnet,
    compile_replacement,
    regex_replace,
    replace_all,
    search,
    translate,
    translate_replacement,
)

TRANSLATIONS = [
    ("(?i)^AWS-", "(?i:^AWS-)", "leading-flag-scoped"),
    (r"^(?i)S-1-5-21-\d+$", r"^(?i:S-1-5-21-\d+$)", "microsoft-sid-example"),
    ("abc(?i)def", "abc(?i:def)", "mid-pattern-flag"),
    ("a(?i)b|c", "a(?i:b)|(?i:c)", "flag-reaches-later-alternatives"),
    ("(x(?i)y|z)w", "(x(?i:y)|(?i:z))w", "flag-ends-with-its-group"),
    ("a(?i)b(?-i)c", "a(?i:b(?-i:c))", "flags-nest"),
    ("(?i:abc)d", "(?i:abc)d", "scoped-group-unchanged"),
    ("(?im-s)x", "(?im-s:x)", "on-and-off"),
    ("(?<name>a)", "(?P<name>a)", "named-group"),
    ("(?'name'a)", "(?P<name>a)", "named-group-quotes"),
    (r"(?<a>x)\k<a>", "(?P<a>x)(?P=a)", "named-backreference"),
    (r"(?<a>x)\k'a'", "(?P<a>x)(?P=a)", "named-backreference-quotes"),
    (r"(a)\1", r"(a)(?:\1)", "numbered-backreference"),
    (r"(?<a>x)(y)\1\2", r"(?P<a>x)(y)(?:\2)(?:\1)", "dotnet-numbers-unnamed-groups-first"),
    (r"AWS-([\d]{12})-", r"AWS-([\d]{12})-", "aws-multi-account-unchanged"),
    (r"a\Z", r"a(?=\n?\Z)", "Z-allows-final-newline"),
    (r"a\z", r"a\Z", "z-is-absolute-end"),
    (r"\e\cA", r"\x1b\x01", "escape-and-control"),
    ("a{,3}", r"a\{,3}", "brace-without-minimum-is-literal"),
    ("a{2,}?", "a{2,}?", "lazy-quantifier"),
    ("[[]", r"[\[]", "bracket-in-set"),
    ("[a&&b~~c||d]", r"[a\&\&b\~\~c\|\|d]", "set-operators-escaped"),
    ("[!--]", r"[!-\-]", "double-dash-escaped"),
    ("[]a]", "[]a]", "leading-bracket-literal"),
    ("(?>a+)b", "(?>a+)b", "atomic-group"),
    ("(?=a)(?!b)(?<=c)(?<!d)", "(?=a)(?!b)(?<=c)(?<!d)", "lookarounds"),
    ("a(?#note)b", "ab", "comment-group-dropped"),
    ("(?x) a # ( not a group\n b", "(?x: a # ( not a group\n b)", "verbose-comment"),
]


@pytest.mark.parametrize(
    ("dotnet", "python"), [(d, p) for d, p, _ in TRANSLATIONS], ids=[i for *_, i in TRANSLATIONS]
)
def test_translate(dotnet: str, python: str) -> None:
    assert translate(dotnet) == python


def test_translations_compile_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dotnet, _, _ in TRANSLATIONS:
            compile_dotnet.cache_clear()
            compile_dotnet(dotnet)


@pytest.mark.parametrize(
    ("pattern", "value", "found"),
    [
        ("AWS-", "xAWS-Dev", True),
        ("^AWS-", "xAWS-Dev", False),
        ("AWS-", "aws-Dev", False),
        ("(?i)^AWS-", "aws-Dev", True),
        ("(?i)^AWS-([\\d]{12})", "AWS-1234567890123-Admin", True),
        ("(?i)^AWS-([\\d]{12})", "AWS-12345678901-Admin", False),
        ("a(?i)b|c", "C", True),
        ("a(?i)b|c", "aB", True),
        ("a(?i)b|c", "AB", False),
        (r"a\Z", "a\n", True),
        (r"a\z", "a\n", False),
        ("^(?i)S-1-5-21-1+$", "s-1-5-21-111", True),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else str(v),
)
def test_search_is_unanchored_and_case_sensitive_by_default(
    pattern: str, value: str, found: bool
) -> None:
    assert search(pattern, value) is found


@pytest.mark.parametrize(
    ("value", "pattern", "replacement", "result"),
    [
        ("AWS-Dev", "AWS-", "X-", "X-Dev"),
        ("AWS-Dev-AWS-Admin", "AWS-", "X-", "X-Dev-X-Admin"),
        ("aws-Dev", "AWS-", "X-", "aws-Dev"),
        (
            "AWS-123456789012-Admin",
            "AWS-([\\d]{12})-",
            "arn:$1:role/",
            "arn:123456789012:role/Admin",
        ),
        ("ab", "(a)(b)", "${2}${1}", "ba"),
        ("ab", "(?<first>a)(?<second>b)", "${second}-${first}", "b-a"),
        ("ab", "(?<n>a)(b)", "$1|$2|${n}", "b|a|a"),
        ("ab", "a", "[$0|$&]", "[a|a]b"),
        ("ab", "a", "$$1", "$1b"),
        ("ab", "(a)", "$12", "$12b"),
        ("ab", "(a)", "${nope}", "${nope}b"),
        ("ab", "(a)", "$", "$b"),
        ("xay", "a", "[$`|$'|$_]", "x[x|y|xay]y"),
        ("ab", "(?<n>a)(b)", "$+", "a"),
        ("ab", "(a)|(c)", "[$2]", "[]b"),
        ("a", "a", "\\1\\n", "\\1\\n"),
        ("CORP\\alice", "(?<domain>[^\\\\]+)\\\\(?<user>.+)", "${user}", "alice"),
        ("abxd", "x*", "-", "-a-b--d-"),
    ],
    ids=lambda v: repr(v),
)
def test_regex_replace_follows_dotnet(
    value: str, pattern: str, replacement: str, result: str
) -> None:
    assert regex_replace(value, pattern, replacement) == result


def test_replace_all_counts_replacements() -> None:
    assert replace_all("AWS-Dev-AWS-Admin", "AWS-", "") == ("Dev-Admin", 2)
    assert replace_all("aws-Dev", "AWS-", "") == ("aws-Dev", 0)


@pytest.mark.parametrize(
    ("replacement", "pattern", "template"),
    [
        ("$1", "(a)", r"\g<1>"),
        ("${name}x", "(?<name>a)", r"\g<1>x"),
        ("$0$&", "a", r"\g<0>\g<0>"),
        ("$$", "a", "$"),
        ("a\\b", "a", "a\\\\b"),
        ("$1", "(?<n>a)(b)", r"\g<2>"),
    ],
)
def test_translate_replacement_to_a_re_sub_template(
    replacement: str, pattern: str, template: str
) -> None:
    assert translate_replacement(replacement, pattern) == template
    assert re.sub(translate(pattern), template, "ab") == regex_replace("ab", pattern, replacement)


@pytest.mark.parametrize("replacement", ["$`", "$'", "$_"])
def test_replacements_without_a_template_form(replacement: str) -> None:
    with pytest.raises(DotnetRegexError, match="no re.sub template"):
        translate_replacement(replacement, "a")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"\p{L}", "Unicode categories"),
        (r"\P{Lu}", "Unicode categories"),
        (r"\Ga", r"\G"),
        ("(?<a-b>x)", "balancing groups"),
        ("(?<2>x)", "explicitly numbered groups"),
        ("(?(a)b|c)", "conditionals"),
        ("(?n)(a)", "ExplicitCapture"),
        ("[a-z-[aeiou]]", "subtraction"),
        ("(?<a>x)(?<a>y)", "used twice"),
        ("a**", "nested quantifier"),
        ("a{2}{3}", "nested quantifier"),
        (r"\1", "undefined group number 1"),
        (r"\k<zz>", "undefined group name 'zz'"),
        ("(a", "missing ')'"),
        ("a)", "too many ')'"),
        ("[abc", "unterminated [] set"),
        ("(?<=a+)b", "look-behind requires fixed-width"),
        ("a\\", "illegal \\ at the end"),
        ("(?P<x>a)", "not supported"),
        ("*a", "nothing to repeat"),
    ],
    ids=lambda v: repr(v),
)
def test_unsupported_or_invalid_patterns_are_refused_clearly(pattern: str, reason: str) -> None:
    with pytest.raises(DotnetRegexError) as caught:
        compile_dotnet(pattern)
    assert reason in caught.value.reason
    assert repr(pattern) in str(caught.value)
    assert isinstance(caught.value, MappingError)


def test_compiled_patterns_and_replacements_are_cached() -> None:
    assert compile_dotnet("(?i)^AWS-") is compile_dotnet("(?i)^AWS-")
    assert compile_replacement("$1", "(a)") is compile_replacement("$1", "(a)")


def test_group_numbers_map_dotnet_to_python() -> None:
    regex = compile_dotnet("(?<n>a)(b)(?<m>c)(d)")
    assert regex.numbers == {0: 0, 1: 2, 2: 4, 3: 1, 4: 3}
    assert regex.names == frozenset({"n", "m"})
