""".NET regular expressions as ADFS runs them, translated to Python's ``re``.

Expected matches in ``NET_CASES``, ``NET_ERRORS`` and ``test_dotnet_lower_is_the_invariant_tolower``
were produced by Mono 6.8's System.Text.RegularExpressions (``new Regex(pattern)`` under the
invariant culture: ``IsMatch`` and ``Replace``; ``char.ToLower(c, CultureInfo.InvariantCulture)``),
the engine family ADFS runs on. Mono is not installed in CI: the values are literals here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings

import pytest

from idp.errors import MappingError
from idp.mapping.dotnet_regex import (
    DotnetRegexError,
    category_ranges,
    class_source,
    compile_dotnet,
    compile_replacement,
    dotnet_lower,
    regex_replace,
    replace_all,
    search,
    translate,
    translate_replacement,
)

DIGIT = class_source(category_ranges(frozenset({"Nd"}), bmp_only=True))

TRANSLATIONS = [
    ("(?i)^AWS-", "^[Aa][Ww][Ss]-", "ignore-case-letters-become-classes"),
    (r"^(?i)S-1-5-21-\d+$", rf"^[Ss]-1-5-21-{DIGIT}+$", "microsoft-sid-example"),
    ("abc(?i)def", "abc[Dd][Ee][Ff]", "mid-pattern-flag"),
    ("a(?i)b|c", "a[Bb]|[Cc]", "flag-reaches-later-alternatives"),
    ("(x(?i)y|z)w", "(x[Yy]|[Zz])w", "flag-ends-with-its-group"),
    ("a(?i)b(?-i)c", "a[Bb]c", "flags-nest"),
    ("(?i:abc)d", "(?:[Aa][Bb][Cc])d", "scoped-group"),
    ("(?im-s)x", "[Xx]", "on-and-off"),
    ("(?i)\u01c5", "\u01c5", "ignore-case-titlecase-dz-is-alone"),
    ("(?i)[^a-z]", "[^A-Za-z]", "ignore-case-negated-class"),
    ("(?s)a.b", "a(?s:.)b", "singleline-dot"),
    ("(?m)^a$", "(?m:^)a(?m:$)", "multiline-anchors"),
    ("(?<name>a)", "(?P<name>a)", "named-group"),
    ("(?'name'a)", "(?P<name>a)", "named-group-quotes"),
    (r"(?<a>x)\k<a>", "(?P<a>x)(?P=a)", "named-backreference"),
    (r"(?<a>x)\k'a'", "(?P<a>x)(?P=a)", "named-backreference-quotes"),
    (r"(a)\1", r"(a)(?:\1)", "numbered-backreference"),
    (r"(?<a>x)(y)\1\2", r"(?P<a>x)(y)(?:\2)(?:\1)", "dotnet-numbers-unnamed-groups-first"),
    (r"(?i)(a)\1", r"([Aa])(?i:\1)", "ignore-case-backreference"),
    (r"\1(a)", "(?!)(a)", "forward-reference-cannot-match-yet"),
    (r"AWS-([\d]{12})-", rf"AWS-({DIGIT}{{12}})-", "aws-multi-account"),
    (r"a\Z", r"a(?=\n?\Z)", "Z-allows-final-newline"),
    (r"a\z", r"a\Z", "z-is-absolute-end"),
    (r"\e\cA", r"\x1b\x01", "escape-and-control"),
    (r"\101", "A", "octal-escape"),
    ("a{,3}", r"a\{,3\}", "brace-without-minimum-is-literal"),
    ("a{2,}?", "a{2,}?", "lazy-quantifier"),
    ("^*a", "(?:^)*a", "quantified-anchor"),
    ("[[]", r"\[", "bracket-in-set"),
    ("[a&&b~~c||d]", r"[\&a-d\|\~]", "set-operators-escaped"),
    ("[!--]", r"[\!-\-]", "double-dash-escaped"),
    ("[]a]", r"[\]a]", "leading-bracket-literal"),
    ("[a-z-[aeiou]]", "[b-df-hj-np-tv-z]", "class-subtraction"),
    ("(?>a+)b", "(?>a+)b", "atomic-group"),
    ("(?=a)(?!b)(?<=c)(?<!d)", "(?=a)(?!b)(?<=c)(?<!d)", "lookarounds"),
    ("(?<=ab|c)d", "(?:(?<=ab)|(?<=c))d", "lookbehind-alternatives-split"),
    ("(?<!ab|c)d", "(?:(?<!ab)(?<!c))d", "negative-lookbehind-alternatives-split"),
    ("(?n)(a)(?<b>b)", "(?:a)(?P<b>b)", "explicit-capture"),
    ("a(?#note)b", "ab", "comment-group-dropped"),
    ("(?x) a # ( not a group\n b", "ab", "verbose-comment"),
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
            assert compile_dotnet(dotnet).compiled.flags == re.UNICODE  # no Python flags used


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
        # Valid .NET that Python cannot run (Mono 6.8: "\p{L}+" matches "ab", "\Ga" matches
        # "a", "(?<2>x)" matches "x", "(?(a)b|c)" matches "c", "(?<a>x)(?<a>y)" matches "xy",
        # "(?<=a+)b" matches "aab").
        (r"\p{L}", "Unicode categories"),
        (r"\P{Lu}", "Unicode categories"),
        (r"\Ga", r"\G"),
        ("(?<2>x)", "explicitly numbered groups"),
        ("(?(a)b|c)", "conditionals"),
        ("(?<a>x)(?<a>y)", "used twice"),
        ("(?<=a+)b", "look-behind requires fixed-width"),
        # Valid .NET: the reference can run after its group matched (Mono 6.8 matches
        # "oneonetwo"; a lookbehind runs right to left: "aab").
        (r"(\2two|(one))+", "a reference to a group that opens later, inside a repeated group"),
        (r"(?<=\1(a))b", "a reference to a group that opens later"),
        # Valid .NET, never matches (Mono 6.8: no match on "aa").
        (r"(a\1)", "reference to group 1 from inside it"),
        (r"(a)\k<0>", "reference to group 0"),
        # Invalid in .NET too.
        ("(?<a-b>x)", "balancing groups"),
        ("a**", "nested quantifier"),
        ("a{2}{3}", "nested quantifier"),
        (r"\1", "undefined group number 1"),
        (r"\k<zz>", "undefined group name 'zz'"),
        ("(a", "missing ')'"),
        ("a)", "too many ')'"),
        ("[abc", "unterminated [] set"),
        ("a\\", "illegal \\ at the end"),
        ("(?P<x>a)", "unrecognized grouping construct"),
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


# --- behaviour checked against the real engine ------------------------------------------------

# (pattern, input, replacement, IsMatch, Replace): Mono 6.8's answers.
NET_CASES = [
    pytest.param(
        "(?i)^AWS-", "AW\u017f-Admin", "X", False, "AW\u017f-Admin", id="ci-long-s-is-not-S"
    ),
    pytest.param(
        "(?i)^AWS-", "aw\u017f-Admin", "X", False, "aw\u017f-Admin", id="ci-long-s-lower-group"
    ),
    pytest.param("(?i)^AWS-", "aws-Dev", "X", True, "XDev", id="ci-plain-aws-still-matches"),
    pytest.param("(?i)s", "\u017f", "X", False, "\u017f", id="ci-s-vs-long-s"),
    pytest.param("(?i)\u017f", "S", "X", False, "S", id="ci-long-s-vs-S"),
    pytest.param("(?i)k", "\u212a", "X", False, "\u212a", id="ci-k-vs-kelvin"),
    pytest.param("(?i)\u212a", "k", "X", False, "k", id="ci-kelvin-vs-k"),
    pytest.param("(?i)^AWS-", "AWS-\u212a", "X", True, "X\u212a", id="ci-kelvin-sign-in-group"),
    pytest.param("(?i)[a-z]", "\u212a", "X", False, "\u212a", id="ci-class-a-z-vs-kelvin"),
    pytest.param("(?i)^[A-Z]+$", "AW\u017f", "X", False, "AW\u017f", id="ci-class-A-Z-vs-long-s"),
    pytest.param("(?i)\u0131", "I", "X", False, "I", id="ci-dotless-i-vs-I"),
    pytest.param("(?i)I", "\u0131", "X", False, "\u0131", id="ci-I-vs-dotless-i"),
    pytest.param("(?i)i", "\u0130", "X", False, "\u0130", id="ci-i-vs-dotted-I"),
    pytest.param("(?i)\u0130", "i", "X", False, "i", id="ci-dotted-I-vs-i"),
    pytest.param("(?i)\u0130", "\u0130", "X", True, "X", id="ci-dotted-I-itself"),
    pytest.param("(?i)\xdf", "SS", "X", False, "SS", id="ci-sharp-s-vs-SS"),
    pytest.param("(?i)\xdf", "\u1e9e", "X", False, "\u1e9e", id="ci-sharp-s-vs-capital-sharp-s"),
    pytest.param("(?i)\u1e9e", "\xdf", "X", False, "\xdf", id="ci-capital-sharp-s-vs-sharp-s"),
    pytest.param("(?i)\u03a3", "\u03c3", "X", True, "X", id="ci-capital-sigma-vs-small"),
    pytest.param("(?i)\u03a3", "\u03c2", "X", False, "\u03c2", id="ci-capital-sigma-vs-final"),
    pytest.param("(?i)\u03c3", "\u03c2", "X", False, "\u03c2", id="ci-small-sigma-vs-final"),
    pytest.param("(?i)\u03c2", "\u03a3", "X", False, "\u03a3", id="ci-final-sigma-vs-capital"),
    pytest.param("(?i)\xe9", "\xc9", "X", True, "X", id="ci-e-acute-vs-capital"),
    pytest.param("(?i)\xc9", "\xe9", "X", True, "X", id="ci-capital-e-acute-vs-small"),
    pytest.param("(?i)\u01c5", "\u01c4", "X", False, "\u01c4", id="ci-titlecase-dz-vs-capital"),
    pytest.param("(?i)\u01c5", "\u01c6", "X", False, "\u01c6", id="ci-titlecase-dz-vs-small"),
    pytest.param("(?i)\u01c6", "\u01c5", "X", False, "\u01c5", id="ci-small-dz-vs-titlecase"),
    pytest.param("(?i)\u01c6", "\u01c4", "X", True, "X", id="ci-small-dz-vs-capital"),
    pytest.param("(?i)[\u017f]", "s", "X", False, "s", id="ci-class-single-long-s"),
    pytest.param(
        "(?i)[\xc0-\xde]", "\xf7", "X", True, "X", id="ci-class-latin1-range-gains-division-sign"
    ),
    pytest.param(
        "(?i)[\u0391-\u03a9]", "\u03c2", "X", True, "X", id="ci-class-greek-range-gains-final-sigma"
    ),
    pytest.param(
        "(?i)[\u2120-\u212f]", "k", "X", False, "k", id="ci-class-letterlike-range-gains-k"
    ),
    pytest.param("(?i)[^a-z]", "Q", "X", False, "Q", id="ci-class-negated"),
    pytest.param("(?i)^\\w+$", "\u212a\u017f", "X", True, "X", id="ci-word-class-unchanged"),
    pytest.param("(?i)(a)\\1", "aA", "X", True, "X", id="ci-backreference"),
    pytest.param("^\\w+$", "x\xb2", "X", False, "x\xb2", id="word-excludes-superscript-two"),
    pytest.param("^\\w+$", "e\u0301", "X", True, "X", id="word-includes-combining-mark"),
    pytest.param("^\\w+$", "a\u203fb", "X", True, "X", id="word-includes-connector-punctuation"),
    pytest.param(
        "^\\w+$", "a\u200db", "X", False, "a\u200db", id="word-excludes-zero-width-joiner"
    ),
    pytest.param("a\\b", "a\u200d", "X", False, "a\u200d", id="boundary-counts-zero-width-joiner"),
    pytest.param("x\\b", "x\xb2", "X", True, "X\xb2", id="boundary-after-superscript"),
    pytest.param("e\\b", "e\u0301", "X", False, "e\u0301", id="boundary-before-combining-mark"),
    pytest.param("\\Bb", "ab", "X", True, "aX", id="not-boundary-inside-word"),
    pytest.param("^\\d+$", "\uff11\uff12", "X", True, "X", id="digit-fullwidth"),
    pytest.param("^\\d+$", "\xb2", "X", False, "\xb2", id="digit-excludes-superscript"),
    pytest.param("^\\s$", "\x1c", "X", False, "\x1c", id="space-excludes-file-separator"),
    pytest.param("^\\s$", "\x85", "X", True, "X", id="space-includes-next-line"),
    pytest.param("^\\s$", "\xa0", "X", True, "X", id="space-includes-no-break-space"),
    pytest.param("^\\s$", "\u200b", "X", False, "\u200b", id="space-excludes-zero-width-space"),
    pytest.param("^\\S$", "\x1c", "X", True, "X", id="not-space-file-separator"),
    pytest.param("\\101", "A", "X", True, "X", id="octal-101-is-A"),
    pytest.param("\\0101", "\x081", "X", True, "X", id="octal-0101-is-backspace-then-1"),
    pytest.param("\\1234", "S4", "X", True, "X", id="octal-1234-is-S-then-4"),
    pytest.param("\\400", "\x00", "X", True, "X", id="octal-400-wraps-to-nul"),
    pytest.param("\\18", "\x018", "X", True, "X", id="octal-18-is-x01-then-8"),
    pytest.param("(a)\\12", "a\n", "X", True, "X", id="octal-12-when-only-one-group"),
    pytest.param(
        "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10",
        "abcdefghijj",
        "X",
        True,
        "X",
        id="backreference-10-when-ten-groups",
    ),
    pytest.param("[\\101]", "A", "X", True, "X", id="octal-in-class"),
    pytest.param("\\1(a)", "aa", "X", False, "aa", id="forward-reference-never-matches"),
    pytest.param("(?:\\1|x)(a)", "xa", "X", True, "X", id="forward-reference-other-branch"),
    pytest.param("\\k<n>(?<n>a)", "aa", "X", False, "aa", id="forward-named-reference"),
    pytest.param("\\k<1>(a)", "aa", "X", False, "aa", id="forward-angled-number-reference"),
    pytest.param("(?<n>a)\\<n>", "aa", "X", True, "X", id="angled-named-reference"),
    pytest.param("\\<-a>", "<-a>", "X", True, "X", id="angled-literal-when-not-a-name"),
    pytest.param("\\c[", "\x1b", "X", True, "X", id="control-escape-bracket"),
    pytest.param("(?n)(a)(?<x>b)", "ab", "[$1|${x}]", True, "[b|b]", id="explicit-capture-option"),
    pytest.param("(?i+m)A$", "a\nb", "X", True, "X\nb", id="option-plus-sign"),
    pytest.param("^[a-z-[aeiou]]+$", "bcd", "X", True, "X", id="subtraction"),
    pytest.param("^[a-z-[aeiou]]+$", "bad", "X", False, "bad", id="subtraction-excludes"),
    pytest.param("^[a-[b]]$", "a", "X", True, "X", id="subtraction-keeps-range-start"),
    pytest.param("(?<=ab|c)d", "abd", "X", True, "abX", id="lookbehind-alternatives-of-two-widths"),
    pytest.param("(?<!ab|c)d", "xcd", "X", False, "xcd", id="negative-lookbehind-alternatives"),
    pytest.param("(?x)a\x0bb", "a\x0bb", "X", True, "X", id="verbose-vertical-tab-is-not-blank"),
    pytest.param("(?x)a # c\n b", "ab", "X", True, "X", id="verbose-comment-to-newline"),
    pytest.param("(?x)a{2, 3}", "a{2,3}", "X", True, "X", id="verbose-spaced-brace-is-literal"),
    pytest.param("a(?#c)*", "aaa", "X", True, "XX", id="comment-group-before-quantifier"),
    pytest.param("^*a", "a", "X", True, "X", id="quantified-caret"),
    pytest.param("^[[:alpha:]]$", "[", "X", True, "X", id="posix-like-bracket-skipped"),
    pytest.param("a*?", "aaa", "X", True, "XaXaXaX", id="replace-after-empty-match-moves-on"),
    pytest.param("|a", "ab", "-", True, "-a-b-", id="replace-empty-alternative-first"),
    pytest.param("a$", "a\n", "X", True, "X\n", id="dollar-before-final-newline"),
    pytest.param("a$", "a\r", "X", False, "a\r", id="dollar-not-before-final-cr"),
    pytest.param(
        "(?m)^b$", "a\r\nb\r\nc", "X", False, "a\r\nb\r\nc", id="multiline-dollar-not-before-cr"
    ),
]


@pytest.mark.parametrize(("pattern", "value", "replacement", "found", "replaced"), NET_CASES)
def test_matches_and_replaces_like_dotnet(
    pattern: str, value: str, replacement: str, found: bool, replaced: str
) -> None:
    assert search(pattern, value) is found
    assert regex_replace(value, pattern, replacement) == replaced


# Patterns Mono 6.8 rejects (its message above each).
NET_ERRORS = [
    # .NET: parsing "\_" - Unrecognized escape sequence \_.
    pytest.param("\\_", id="escape-underscore"),
    # .NET: parsing "\<a>" - Reference to undefined group name a.
    pytest.param("\\<a>", id="angled-reference-to-no-group"),
    # .NET: parsing "\8" - Reference to undefined group number 8.
    pytest.param("\\8", id="escape-8-without-group"),
    # .NET: parsing "[\8]" - Unrecognized escape sequence \8.
    pytest.param("[\\8]", id="escape-8-in-class"),
    # .NET: parsing "\x4" - Insufficient hexadecimal digits.
    pytest.param("\\x4", id="escape-hex-short"),
    # .NET: parsing "\u004" - Insufficient hexadecimal digits.
    pytest.param("\\u004", id="escape-unicode-short"),
    # .NET: parsing "\c1" - Unrecognized control character.
    pytest.param("\\c1", id="escape-control-digit"),
    # .NET: parsing "[a-\d]" - Cannot include class \d in character range.
    pytest.param("[a-\\d]", id="class-shorthand-in-range"),
    # .NET: parsing "[z-a]" - [x-y] range in reverse order.
    pytest.param("[z-a]", id="reversed-range"),
    # .NET: parsing "a{3,2}" - Illegal {x,y} with x > y.
    pytest.param("a{3,2}", id="reversed-quantifier"),
    # .NET: parsing "(?r)a" - Unrecognized grouping construct.
    pytest.param("(?r)a", id="option-r-is-top-level-only"),
    # .NET: parsing "(?'=a)" - Unrecognized grouping construct.
    pytest.param("(?'=a)", id="quote-lookbehind"),
    # .NET: parsing "\k" - Malformed \k<...> named back reference.
    pytest.param("\\k", id="k-without-name"),
    # .NET: parsing "{2}" - Quantifier {x,y} following nothing.
    pytest.param("{2}", id="quantifier-following-nothing"),
    # .NET: parsing "a*??" - Nested quantifier ?.
    pytest.param("a*??", id="nested-quantifier"),
    # .NET: parsing "[a-[b]c]" - A subtraction must be the last element in a character class.
    pytest.param("[a-[b]c]", id="subtraction-not-last"),
]


@pytest.mark.parametrize("pattern", NET_ERRORS)
def test_refuses_what_dotnet_refuses(pattern: str) -> None:
    with pytest.raises(DotnetRegexError):
        compile_dotnet(pattern)


def test_unbalanced_parenthesis_is_reported_before_other_errors() -> None:
    # Mono 6.8 says "Insufficient hexadecimal digits" (the first error it meets); the missing
    # ')' is reported first here.
    with pytest.raises(DotnetRegexError, match=re.escape("at position 7: missing ')'")):
        compile_dotnet("CORP\\x(")
    with pytest.raises(DotnetRegexError, match="insufficient hex digits"):
        compile_dotnet("CORP\\x()")


LOWER_DIGEST = "48746c692240216ab4c77f0ac14731cd42f66a588051670cde1f36e9133f2a71"
"""sha256 of ``f"{c:04x}{lower:04x}"`` for every UTF-16 unit ``c``, ``lower`` being Mono 6.8's
``char.ToLower(c, CultureInfo.InvariantCulture)``."""


def test_dotnet_lower_is_the_invariant_tolower() -> None:
    table = "".join(f"{c:04x}{dotnet_lower(c):04x}" for c in range(0x10000))
    assert hashlib.sha256(table.encode()).hexdigest() == LOWER_DIGEST


@pytest.mark.parametrize(
    ("char", "lower"),
    [
        pytest.param("\u212a", "\u212a", id="kelvin-sign-kept"),
        pytest.param("\u0130", "\u0130", id="dotted-capital-i-kept"),
        pytest.param("\u01c5", "\u01c5", id="titlecase-dz-kept"),
        pytest.param("\u1e9e", "\u1e9e", id="capital-sharp-s-kept"),
        pytest.param("\u01c4", "\u01c6", id="capital-dz"),
        pytest.param("\u03a3", "\u03c3", id="capital-sigma"),
        pytest.param("\u00c9", "\u00e9", id="capital-e-acute"),
        pytest.param("\u017f", "\u017f", id="long-s-is-lower-case"),
        pytest.param("\U00010400", "\U00010400", id="astral-kept"),
    ],
)
def test_dotnet_lower(char: str, lower: str) -> None:
    # Mono 6.8, char.ToLower(c, CultureInfo.InvariantCulture); astral: UTF-16 halves unchanged.
    assert chr(dotnet_lower(ord(char))) == lower


@pytest.mark.parametrize(
    "char", list("AaSs\u017fKk\u212aI\u0131i\u0130\u00df\u1e9e\u03a3\u03c3\u03c2\u01c4\u01c5\u01c6")
)
def test_ignore_case_matches_exactly_the_same_lower_case(char: str) -> None:
    """``(?i)x`` accepts a character iff .NET lower-cases both to the same character."""
    compiled = compile_dotnet(r"\A(?i)" + re.escape(char) + r"\z").compiled
    wanted = dotnet_lower(ord(char))
    for code in range(0x10000):
        assert (compiled.match(chr(code)) is not None) == (dotnet_lower(code) == wanted)


@pytest.mark.parametrize(
    ("shorthand", "categories", "extra"),
    [
        (r"\w", {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Nd", "Pc"}, ""),
        (r"\d", {"Nd"}, ""),
        (r"\s", {"Zs", "Zl", "Zp"}, "\f\n\r\t\v\x85"),
    ],
)
def test_shorthand_classes_are_their_unicode_categories(
    shorthand: str, categories: set[str], extra: str
) -> None:
    compiled = compile_dotnet(rf"\A{shorthand}\z").compiled
    for code in range(0x10000):
        char = chr(code)
        wanted = unicodedata.category(char) in categories or char in extra
        assert (compiled.match(char) is not None) is wanted, hex(code)
    assert compiled.match("\U0001d7ce") is None  # .NET sees two UTF-16 halves, never a digit
