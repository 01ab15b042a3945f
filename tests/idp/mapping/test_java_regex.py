"""Okta's Group Filter: Java regular expressions translated to Python.

Expected values in ``JAVA_CASES`` and ``JAVA_ERRORS`` come from Java 17 (OpenJDK 17.0.15,
``java.util.regex.Pattern.compile`` on the pattern with ``(?{{x}}`` as ``(?<x>``: ``find()``'s
group 0 and ``matches()``; or the PatternSyntaxException it threw). Java is not installed in CI:
the values are literals here. The translation tests pinned before this file live in
test_okta.py.
"""

from __future__ import annotations

import re

import pytest

from idp.mapping.java_regex import compile_java_regex, translate_java_regex

# (pattern, input, find() group 0 or None, matches()): Java 17's answers.
JAVA_CASES = [
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012",
        "aws#prod#Admin#123456789012",
        True,
        id="default-filter-plain",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\r",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-cr",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\r\n",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-crlf",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\n",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-lf",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\x85",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-next-line",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\u2028",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-line-separator",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\u2029",
        "aws#prod#Admin#123456789012",
        False,
        id="default-filter-final-paragraph-separator",
    ),
    pytest.param(
        "^aws\\#\\S+\\#(?{{role}}[\\w\\-]+)\\#(?{{accountid}}\\d+)$",
        "aws#prod#Admin#123456789012\n\n",
        None,
        False,
        id="default-filter-two-final-newlines",
    ),
    pytest.param("a$\n", "a\r\n", None, False, id="dollar-not-between-cr-lf"),
    pytest.param("a$\r", "a\r\n", "a\r", False, id="dollar-then-cr"),
    pytest.param("(?d)a$", "a\r", None, False, id="unix-lines-dollar-not-before-cr"),
    pytest.param("a\\Z", "a\r", "a", False, id="end-Z-before-final-cr"),
    pytest.param("a\\Z", "a\x85", "a", False, id="end-Z-before-final-next-line"),
    pytest.param("(?d)a\\Z", "a\r", None, False, id="unix-lines-end-Z-not-before-cr"),
    pytest.param("a\\z", "a\n", None, False, id="end-z-absolute"),
    pytest.param("^aws_(?{{role}}.+)$", "aws_a\rb", None, False, id="dot-excludes-cr"),
    pytest.param(
        "^aws_(?{{role}}.+)$", "aws_a\u2028b", None, False, id="dot-excludes-line-separator"
    ),
    pytest.param("^.$", "\x85", None, False, id="dot-excludes-next-line"),
    pytest.param("(?s)^(?{{role}}.+)$", "a\rb", "a\rb", True, id="dotall-dot-includes-cr"),
    pytest.param("(?d)^(?{{role}}.+)$", "a\rb", "a\rb", True, id="unix-lines-dot-includes-cr"),
    pytest.param("(?m)^(?{{role}}b)$", "a\rb", "b", False, id="multiline-caret-after-cr"),
    pytest.param("(?m)^b", "a\u2028b", "b", False, id="multiline-caret-after-line-separator"),
    pytest.param("(?m)a\\r^\\n", "a\r\n", None, False, id="multiline-caret-not-between-cr-lf"),
    pytest.param("(?m)a\\n^", "a\n", None, False, id="multiline-caret-not-at-end"),
    pytest.param("(?m)^", "", None, False, id="multiline-caret-not-in-empty-input"),
    pytest.param(
        "(?m)a$", "a\u2029b", "a", False, id="multiline-dollar-before-paragraph-separator"
    ),
    pytest.param("(?m)$\\n", "a\r\n", None, False, id="multiline-dollar-not-between-cr-lf"),
    pytest.param("(?md)^b", "a\rb", None, False, id="multiline-unix-lines-caret-not-after-cr"),
    pytest.param(
        "(?iu)^aws#(?{{accountid}}\\d+)$",
        "aws#\uff11\uff12\uff13",
        None,
        False,
        id="unicode-case-digit-stays-ascii",
    ),
    pytest.param(
        "(?u)^aws#(?{{role}}\\w+)$", "aws#R\xf4le", None, False, id="unicode-case-word-stays-ascii"
    ),
    pytest.param(
        "(?iu)^(?{{role}}[\\w\\-]+)$",
        "Ad-\u212a",
        None,
        False,
        id="unicode-case-word-class-stays-ascii",
    ),
    pytest.param("(?u)^\\W$", "\xe9", "\xe9", True, id="unicode-case-not-word-stays-ascii"),
    pytest.param("(?iu)^(?{{role}}k)$", "\u212a", "\u212a", True, id="unicode-case-folds-kelvin"),
    pytest.param("(?i)^(?{{role}}k)$", "\u212a", None, False, id="ascii-case-does-not-fold-kelvin"),
    pytest.param("(?i)\xe9", "\xc9", None, False, id="ascii-case-does-not-fold-e-acute"),
    pytest.param("(?iu)\xe9", "\xc9", "\xc9", True, id="unicode-case-folds-e-acute"),
    pytest.param("(?iu)\xdf", "\u1e9e", None, False, id="unicode-case-sharp-s-not-capital"),
    pytest.param("(?iu)\u1e9e", "\xdf", "\xdf", True, id="unicode-case-capital-sharp-s-folds"),
    pytest.param("(?i)k(?u)x", "\u212ax", None, False, id="case-flag-before-unicode-flag"),
    pytest.param("(?U)^\\w+$", "e\u0301", "e\u0301", True, id="unicode-class-word-combining-mark"),
    pytest.param("(?U)^\\w+$", "a\u203fb", "a\u203fb", True, id="unicode-class-word-connector"),
    pytest.param("(?U)^\\w+$", "x\xb2", None, False, id="unicode-class-word-excludes-superscript"),
    pytest.param("(?U)\\s", "\x1c", None, False, id="unicode-class-space-excludes-file-separator"),
    pytest.param("(?U)^\\d$", "\u0661", "\u0661", True, id="unicode-class-digit-arabic-indic"),
    pytest.param(
        "(?x)^aws_ (?{{role}}[a b]+)$", "aws_a b", None, False, id="verbose-space-in-class-ignored"
    ),
    pytest.param("(?x)^[a#x\nb]$", "b", "b", True, id="verbose-comment-in-class"),
    pytest.param("(?x)^[a\\ b]$", " ", " ", True, id="verbose-escaped-space-in-class"),
    pytest.param("(?x)a#c\rb", "ab", "ab", True, id="verbose-comment-ends-at-cr"),
    pytest.param("(?x)^[ ^a]$", "^", "^", True, id="verbose-caret-after-space-is-literal"),
    pytest.param("(?x)^a{2, 3}$", "aaa", "aaa", True, id="verbose-spaced-counted-repeat"),
    pytest.param("(?{{role}}\\0101)", "A", "A", True, id="octal-0101"),
    pytest.param("^\\0377$", "\xff", "\xff", True, id="octal-0377"),
    pytest.param("^\\0400$", " 0", " 0", True, id="octal-0400-is-two-chars"),
    pytest.param("^[\\0101]$", "A", "A", True, id="octal-in-class"),
    pytest.param(
        "^(a)\\11$", "aa1", "aa1", True, id="backreference-takes-digits-while-groups-exist"
    ),
    pytest.param("a\\b", "a\xe9", None, False, id="boundary-letter-then-e-acute"),
    pytest.param("\\b\xe9", "a\xe9", None, False, id="boundary-before-e-acute"),
    pytest.param("a\\b", "a\xb2", "a", False, id="boundary-before-superscript"),
    pytest.param("a\\b", "a\u203f", "a", False, id="boundary-before-connector"),
    pytest.param("e\\b", "e\u0301", None, False, id="boundary-not-before-combining-mark"),
    pytest.param("\\u0301\\b", "e\u0301 ", "\u0301", False, id="boundary-after-combining-mark"),
    pytest.param("\\u0301\\b", "e\u0301x", None, False, id="boundary-not-after-mark-before-letter"),
    pytest.param("_\\b", "_\u0301", "_", False, id="boundary-mark-after-underscore"),
    pytest.param(
        "^aws_(?{{role}}\\w+)\\b", "aws_Admin\xe9", None, False, id="boundary-role-with-accent"
    ),
    pytest.param("^\\h$", "\xa0", "\xa0", True, id="horizontal-space-no-break"),
    pytest.param("^\\v$", "\u2028", "\u2028", True, id="vertical-space-line-separator"),
    pytest.param("^\\v$", "\x0b", "\x0b", True, id="vertical-space-vertical-tab"),
    pytest.param("^[\\V]$", "\n", None, False, id="not-vertical-space-in-class"),
    pytest.param("^\\R$", "\r\n", "\r\n", True, id="linebreak-crlf"),
    pytest.param("^\\ca$", "!", "!", True, id="control-escape-lower-a"),
    pytest.param("^\\N{LATIN SMALL LETTER A}$", "a", "a", True, id="named-character"),
    pytest.param("(?i-i)A", "a", None, False, id="inline-flag-on-then-off"),
    pytest.param("^\\_$", "_", "_", True, id="escaped-underscore"),
    pytest.param("^[a&b]$", "&", "&", True, id="class-ampersand"),
    pytest.param("^[a~~b]$", "~", "~", True, id="class-double-tilde"),
    pytest.param("^[\\w-a]$", "-", "-", True, id="class-word-then-dash"),
]


@pytest.mark.parametrize(("pattern", "value", "found", "whole"), JAVA_CASES)
def test_matches_like_java(pattern: str, value: str, found: str | None, whole: bool) -> None:
    compiled = compile_java_regex(pattern)
    match = compiled.search(value)
    assert (match.group() if match else None) == found
    assert (compiled.fullmatch(value) is not None) is whole


# Patterns Java 17 rejects (its PatternSyntaxException message above each).
JAVA_ERRORS = [
    # Java: Illegal repetition near index 10
    pytest.param("(?{{role}}a{,2})", id="counted-without-minimum"),
    # Java: Illegal repetition near index 2
    pytest.param("x{abc}", id="brace-not-a-repeat"),
    # Java: Unclosed counted closure near index 4
    pytest.param("a{2, 3}", id="counted-with-space"),
    # Java: Illegal repetition near index 6
    pytest.param("(?x)a{ 2,3}", id="verbose-space-after-brace"),
    # Java: Unclosed character class near index 23
    pytest.param("(?x)^aws_(?{{role}}[a#]+)$", id="verbose-comment-hides-class-end"),
    # Java: Illegal octal escape sequence near index 2
    pytest.param("\\0", id="octal-without-digit"),
    # Java: Illegal octal escape sequence near index 2
    pytest.param("\\08", id="octal-8"),
    # Java: Illegal/unsupported escape sequence near index 1
    pytest.param("\\y", id="escape-unknown-letter"),
    # Java: Illegal/unsupported escape sequence near index 1
    pytest.param("\\U0001F600", id="escape-capital-U"),
    # Java: Illegal/unsupported escape sequence near index 2
    pytest.param("[\\b]", id="backspace-in-class"),
    # Java: Illegal/unsupported escape sequence near index 2
    pytest.param("[\\R]", id="linebreak-in-class"),
    # Java: named capturing group is missing trailing '>' near index 4
    pytest.param("(?<a_b>x)", id="group-name-with-underscore"),
    # Java: capturing group name does not start with a Latin letter near index 3
    pytest.param("(?<1a>x)", id="group-name-starting-with-digit"),
    # Java: Illegal hexadecimal escape sequence near index 3
    pytest.param("\\x4", id="hex-escape-short"),
    # Java: Unclosed character class near index 2
    pytest.param("[^]", id="empty-negated-class"),
    # Java: Illegal control escape sequence near index 1
    pytest.param("\\c", id="control-at-end"),
    # Java: Illegal character range near index 3
    pytest.param("[a--b]", id="class-range-to-dash"),
    # Java: Illegal/unsupported escape sequence near index 1
    pytest.param("\\E", id="stray-E"),
    # Java: Unknown inline modifier near index 2
    pytest.param("(?q)a", id="unknown-inline-modifier"),
]


@pytest.mark.parametrize("pattern", JAVA_ERRORS)
def test_refuses_what_java_refuses(pattern: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        compile_java_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        # Java 17 compiles these; Python cannot express them (Java: "ab" for \p{Alpha}+, "a"
        # for the intersection on "ab", "a1" for the union, "e\u0301" for \X, "a" for \Ga).
        pytest.param(r"\p{Alpha}+", r"\p{…} classes", id="posix-class"),
        pytest.param("[a-z&&[^b]]+", "intersection", id="class-intersection"),
        pytest.param("[a-z[0-9]]+", "nested character classes", id="class-union"),
        pytest.param(r"\X", r"\X", id="grapheme-cluster"),
        pytest.param(r"\Ga", r"\G", id="previous-match-end"),
        # Java 17 compiles these and never matches (no group 2 before the reference); a
        # reference to a later group can match inside a repeat (Java: "aa" for the last).
        pytest.param(r"(a)\2", "reference to group 2", id="reference-to-missing-group"),
        pytest.param(r"\1(a)", "reference to group 1", id="reference-before-group"),
        pytest.param(r"(?:\2b|(a))+", "reference to group 2", id="reference-in-repeat"),
    ],
)
def test_refuses_what_python_cannot_express(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_java_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        pytest.param(r"^aws_(?{{role}}\w+)$", re.ASCII, id="default-is-ascii"),
        pytest.param(r"(?u)^aws_(?{{role}}\w+)$", 0, id="unicode-case"),
        pytest.param(r"(?U)^aws_(?{{role}}\w+)$", 0, id="unicode-character-class"),
    ],
)
def test_python_flags(pattern: str, flags: int) -> None:
    assert translate_java_regex(pattern)[1] == flags


@pytest.mark.parametrize(
    ("java", "python"),
    [
        pytest.param(r"(?u)\w", "[0-9A-Z_a-z]", id="unicode-case-word-written-out"),
        pytest.param(r"(?u)\d", "[0-9]", id="unicode-case-digit-written-out"),
        pytest.param(r"(?U)\d", r"\d", id="unicode-class-digit-is-python-digit"),
        pytest.param(r"(?iu)\w", "(?i)(?-i:[0-9A-Z_a-z])", id="classes-never-fold"),
        pytest.param(r"(?iu)\u00df", "(?i)(?-i:\u00df)", id="sharp-s-only-itself"),
        pytest.param(r"(?i)k(?u)k", "(?i)(?a:k)k", id="ascii-case-before-unicode-case"),
        pytest.param("(?i-i)A", "(?-i:A)", id="off-wins"),
        pytest.param(".", "[^\\n\\r\\x85\\u2028\\u2029]", id="dot"),
        pytest.param("(?d).", ".", id="unix-lines-dot"),
        pytest.param("(?s).", "(?s:.)", id="dotall-dot"),
        pytest.param("(?x)[a b]", "[ab]", id="verbose-class"),
        pytest.param(r"\0101", "A", id="octal"),
        pytest.param(
            r"\h",
            "[\\x09\\x20\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000]",
            id="horizontal-space",
        ),
    ],
)
def test_translations(java: str, python: str) -> None:
    assert translate_java_regex(java)[0] == python


def test_end_anchors_are_pythons_unless_exact() -> None:
    """translate_java_regex keeps ``$`` for callers that print it; the matcher is exact."""
    default = r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
    assert translate_java_regex(default)[0].endswith(")$")
    exact = translate_java_regex(default, exact_end_anchors=True)[0]
    assert not exact.endswith(")$")
    # Java 17: find() matches before a final "\r" (default-filter-final-cr above).
    assert re.search(exact, "aws#prod#Admin#123456789012\r", re.ASCII)
    assert compile_java_regex(default).search("aws#prod#Admin#123456789012\r")
    assert translate_java_regex(r"a\Z")[0] == r"a(?=\n?\Z)"
