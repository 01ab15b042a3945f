"""Translate .NET regular expressions (as ADFS runs them) into Python ``re`` patterns.

ADFS evaluates ``=~``, ``!~`` and ``RegExReplace`` with .NET's ``Regex`` and default options:
case-sensitive, unanchored search, ``Regex.Replace`` replacing every match (reference
idp-mappings.md §1.3, §9). The pattern is parsed the way .NET's ``RegexParser`` parses it and
every construct is written out as a Python one with the same meaning, so the translation runs
with no Python flags at all:

* case-insensitivity (``(?i)``): .NET lower-cases the pattern's characters when it parses them
  and every input character before comparing, one UTF-16 unit at a time, with the culture's
  ``ToLower`` (ADFS: invariant casing; :func:`dotnet_lower`). It never folds (Python's
  ``re.IGNORECASE`` folds ``ſ`` to ``s`` and the Kelvin sign to ``k``; .NET does neither). So an
  atom that accepts the lower-cased values ``Q`` becomes the class of every character whose
  lower case is in ``Q``: ``(?i)S`` → ``[Ss]``, ``(?i)ı`` → ``ı``. A class range ``[A-Z]`` is
  widened with .NET's own range table (``RegexCharClass``'s ``s_lcTable``), a single class
  character with ``ToLower``, as .NET does; a backreference compares with Python's simple lower
  case (``(?i:\\1)``);
* ``\\w`` = ``[\\p{L}\\p{Mn}\\p{Nd}\\p{Pc}]``, ``\\d`` = ``\\p{Nd}``, ``\\s`` =
  ``[\\f\\n\\r\\t\\v\\x85\\p{Z}]``, built from :mod:`unicodedata` as explicit classes; ``\\b``
  also counts U+200C/U+200D as word characters;
* ``^``/``$``/``.`` carry their own ``(?m:…)``/``(?s:…)``; ``(?x)`` whitespace and comments and
  ``(?#…)`` are dropped; ``(?n)`` makes plain groups non-capturing;
* named groups ``(?<name>…)`` / ``(?'name'…)`` → ``(?P<name>…)``; group numbers: .NET numbers
  unnamed groups first, then named ones, so ``$1``/``\\1`` map to the Python group with the same
  meaning;
* ``\\1``…: a number that names no group is an octal escape when it is above 9 (``\\101`` is
  ``A``), an error otherwise; ``\\0…`` is octal, three digits at most (``\\0101`` is ``\\010``
  then ``1``); a reference to a group that only opens later can never have matched yet, so it
  fails (``(?!)``) — unless a repeat or a lookbehind could run it after the group matched, which
  Python cannot express (refused);
* ``Regex.Replace`` (:func:`replace_all`, :meth:`DotnetRegex.subn`) moves one character on after
  an empty match, where ``re.sub`` would try a non-empty match at the same place;
* ``\\Z`` → ``(?=\\n?\\Z)``, ``\\z`` → ``\\Z``, ``\\e``, ``\\cX``, ``\\xHH``, ``\\uHHHH``;
  ``x{,n}`` is literal text in .NET; character-class subtraction ``[a-z-[aeiou]]``; a
  lookbehind made of fixed-width alternatives of different widths;
* replacement strings: ``$1``, ``${1}``, ``${name}``, ``$0``, ``$&``, ``$$``, ``$```, ``$'``,
  ``$+`` (the highest-numbered group), ``$_``; a ``$`` that names no group stays literal.

Not supported (a clear :class:`DotnetRegexError`): ``\\p{…}``/``\\P{…}`` Unicode categories,
``\\G``, balancing groups ``(?<a-b>…)``, explicitly numbered groups ``(?<2>…)``, conditionals
``(?(…)…)``, a name used by two groups, a reference to an enclosing group, and lookbehinds
Python cannot do (variable width).

Known differences that remain: .NET matches UTF-16 units, Python code points, so a character
outside the BMP is one character here and two for .NET (``^.$`` matches an emoji here only),
and classes never contain one unless negated; ``\\w``, ``\\d``, ``\\s`` follow Python's Unicode
database (14.0), newer than .NET Framework's and Mono's, so letters assigned since (e.g.
U+0860-U+086A) are ``\\w`` here only; ``(?i)`` backreferences compare with Python's lower case.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum

from idp.errors import MappingError

# --- code point sets (shared with java_regex) ----------------------------------------------

CodepointRanges = tuple[tuple[int, int], ...]
"""Sorted, disjoint, non-adjacent inclusive ``(first, last)`` code point ranges."""

MAX_CODEPOINT = 0x10FFFF
EMPTY: CodepointRanges = ()


def ranges_of(codepoints: Iterable[int]) -> CodepointRanges:
    """Return the ranges holding exactly ``codepoints``."""
    out: list[tuple[int, int]] = []
    for code in sorted(set(codepoints)):
        if out and out[-1][1] + 1 == code:
            out[-1] = (out[-1][0], code)
        else:
            out.append((code, code))
    return tuple(out)


def union(*sets: Iterable[tuple[int, int]]) -> CodepointRanges:
    """Return the union of range sets (the inputs need not be normalized)."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(r for s in sets for r in s):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def complement(ranges: CodepointRanges) -> CodepointRanges:
    """Return every code point (U+0000-U+10FFFF) not in ``ranges``."""
    out: list[tuple[int, int]] = []
    start = 0
    for first, last in ranges:
        if first > start:
            out.append((start, first - 1))
        start = last + 1
    if start <= MAX_CODEPOINT:
        out.append((start, MAX_CODEPOINT))
    return tuple(out)


def difference(ranges: CodepointRanges, remove: CodepointRanges) -> CodepointRanges:
    """Return the code points of ``ranges`` that are not in ``remove``."""
    return complement(union(complement(ranges), remove))


def contains(ranges: CodepointRanges, code: int) -> bool:
    """Return whether ``code`` is in ``ranges``."""
    index = bisect.bisect_right(ranges, (code, MAX_CODEPOINT + 1)) - 1
    return index >= 0 and ranges[index][0] <= code <= ranges[index][1]


def _class_char(code: int) -> str:
    char = chr(code)
    if char.isascii() and (char.isalnum() or char == "_"):
        return char
    if 0x20 < code < 0x7F:
        return "\\" + char
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def class_body(ranges: CodepointRanges) -> str:
    """Return the inside of a Python ``[...]`` class holding exactly ``ranges``."""
    parts: list[str] = []
    for first, last in ranges:
        if first == last:
            parts.append(_class_char(first))
        elif first + 1 == last:
            parts.append(_class_char(first) + _class_char(last))
        else:
            parts.append(f"{_class_char(first)}-{_class_char(last)}")
    return "".join(parts)


def literal(code: int) -> str:
    """Return Python pattern source matching the one character ``code``."""
    char = chr(code)
    if char in "\\.^$*+?{}[]|()":
        return "\\" + char
    if char.isprintable() and not char.isspace() or char == " ":
        return char
    return _class_char(code)


def class_source(ranges: CodepointRanges) -> str:
    """Return Python pattern source matching one code point of ``ranges`` (``(?!)`` if none)."""
    if not ranges:
        return "(?!)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return literal(ranges[0][0])
    outside = complement(ranges)
    if len(outside) < len(ranges):
        return f"[^{class_body(outside)}]" if outside else "[\\x00-\\U0010ffff]"
    return f"[{class_body(ranges)}]"


@functools.cache
def category_ranges(categories: frozenset[str], *, bmp_only: bool) -> CodepointRanges:
    """Return the code points whose Unicode general category is one of ``categories``."""
    end = 0x10000 if bmp_only else MAX_CODEPOINT + 1
    return ranges_of(c for c in range(end) if unicodedata.category(chr(c)) in categories)


# --- .NET character semantics ----------------------------------------------------------------

_WORD_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Nd", "Pc"})
_ZERO_WIDTH_JOINERS: CodepointRanges = ((0x200C, 0x200D),)

_KEEPS_CASE: CodepointRanges = (
    (0x01C5, 0x01C5), (0x01C8, 0x01C8), (0x01CB, 0x01CB), (0x01F2, 0x01F2), (0x037F, 0x037F),
    (0x03F4, 0x03F4), (0x0524, 0x0524), (0x0526, 0x0526), (0x0528, 0x0528), (0x052A, 0x052A),
    (0x052C, 0x052C), (0x052E, 0x052E), (0x10C7, 0x10C7), (0x10CD, 0x10CD), (0x13A0, 0x13F5),
    (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1E9E, 0x1E9E), (0x2126, 0x2126), (0x212A, 0x212B),
    (0x2C2F, 0x2C2F), (0x2C70, 0x2C70), (0x2C7E, 0x2C7F), (0x2CEB, 0x2CEB), (0x2CED, 0x2CED),
    (0x2CF2, 0x2CF2), (0xA660, 0xA660), (0xA698, 0xA698), (0xA69A, 0xA69A), (0xA78D, 0xA78D),
    (0xA790, 0xA790), (0xA792, 0xA792), (0xA796, 0xA796), (0xA798, 0xA798), (0xA79A, 0xA79A),
    (0xA79C, 0xA79C), (0xA79E, 0xA79E), (0xA7A0, 0xA7A0), (0xA7A2, 0xA7A2), (0xA7A4, 0xA7A4),
    (0xA7A6, 0xA7A6), (0xA7A8, 0xA7A8), (0xA7AA, 0xA7AE), (0xA7B0, 0xA7B4), (0xA7B6, 0xA7B6),
    (0xA7B8, 0xA7B8), (0xA7BA, 0xA7BA), (0xA7BC, 0xA7BC), (0xA7BE, 0xA7BE), (0xA7C0, 0xA7C0),
    (0xA7C2, 0xA7C2), (0xA7C4, 0xA7C7), (0xA7C9, 0xA7C9), (0xA7D0, 0xA7D0), (0xA7D6, 0xA7D6),
    (0xA7D8, 0xA7D8), (0xA7F5, 0xA7F5),
)  # fmt: skip
"""BMP characters Python's ``str.lower()`` changes but .NET's invariant ``ToLower`` keeps.

Every other BMP character lower-cases as ``str.lower()`` does when that gives one character
(``İ`` gives two, and .NET keeps it). Read off Mono 6.8 (``char.ToLower(c,
CultureInfo.InvariantCulture)`` for all 65,536 units): title-case digraphs (``ǅ``), the Kelvin,
Ohm and Angstrom signs, ``ẞ``, ``ϴ``, and letters whose case pairs are newer than its tables.
``tests/idp/mapping/test_dotnet_regex.py`` pins a digest of the whole mapping.
"""

_SET, _ADD, _BOR, _BAD = range(4)
_LC_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (0x0041, 0x005A, _ADD, 32), (0x00C0, 0x00DE, _ADD, 32), (0x0100, 0x012E, _BOR, 0),
    (0x0130, 0x0130, _SET, 0x0069), (0x0132, 0x0136, _BOR, 0), (0x0139, 0x0147, _BAD, 0),
    (0x014A, 0x0176, _BOR, 0), (0x0178, 0x0178, _SET, 0x00FF), (0x0179, 0x017D, _BAD, 0),
    (0x0181, 0x0181, _SET, 0x0253), (0x0182, 0x0184, _BOR, 0), (0x0186, 0x0186, _SET, 0x0254),
    (0x0187, 0x0187, _SET, 0x0188), (0x0189, 0x018A, _ADD, 205), (0x018B, 0x018B, _SET, 0x018C),
    (0x018E, 0x018E, _SET, 0x01DD), (0x018F, 0x018F, _SET, 0x0259), (0x0190, 0x0190, _SET, 0x025B),
    (0x0191, 0x0191, _SET, 0x0192), (0x0193, 0x0193, _SET, 0x0260), (0x0194, 0x0194, _SET, 0x0263),
    (0x0196, 0x0196, _SET, 0x0269), (0x0197, 0x0197, _SET, 0x0268), (0x0198, 0x0198, _SET, 0x0199),
    (0x019C, 0x019C, _SET, 0x026F), (0x019D, 0x019D, _SET, 0x0272), (0x019F, 0x019F, _SET, 0x0275),
    (0x01A0, 0x01A4, _BOR, 0), (0x01A7, 0x01A7, _SET, 0x01A8), (0x01A9, 0x01A9, _SET, 0x0283),
    (0x01AC, 0x01AC, _SET, 0x01AD), (0x01AE, 0x01AE, _SET, 0x0288), (0x01AF, 0x01AF, _SET, 0x01B0),
    (0x01B1, 0x01B2, _ADD, 217), (0x01B3, 0x01B5, _BAD, 0), (0x01B7, 0x01B7, _SET, 0x0292),
    (0x01B8, 0x01B8, _SET, 0x01B9), (0x01BC, 0x01BC, _SET, 0x01BD), (0x01C4, 0x01C5, _SET, 0x01C6),
    (0x01C7, 0x01C8, _SET, 0x01C9), (0x01CA, 0x01CB, _SET, 0x01CC), (0x01CD, 0x01DB, _BAD, 0),
    (0x01DE, 0x01EE, _BOR, 0), (0x01F1, 0x01F2, _SET, 0x01F3), (0x01F4, 0x01F4, _SET, 0x01F5),
    (0x01FA, 0x0216, _BOR, 0), (0x0386, 0x0386, _SET, 0x03AC), (0x0388, 0x038A, _ADD, 37),
    (0x038C, 0x038C, _SET, 0x03CC), (0x038E, 0x038F, _ADD, 63), (0x0391, 0x03AB, _ADD, 32),
    (0x03E2, 0x03EE, _BOR, 0), (0x0401, 0x040F, _ADD, 80), (0x0410, 0x042F, _ADD, 32),
    (0x0460, 0x0480, _BOR, 0), (0x0490, 0x04BE, _BOR, 0), (0x04C1, 0x04C3, _BAD, 0),
    (0x04C7, 0x04C7, _SET, 0x04C8), (0x04CB, 0x04CB, _SET, 0x04CC), (0x04D0, 0x04EA, _BOR, 0),
    (0x04EE, 0x04F4, _BOR, 0), (0x04F8, 0x04F8, _SET, 0x04F9), (0x0531, 0x0556, _ADD, 48),
    (0x10A0, 0x10C5, _ADD, 48), (0x1E00, 0x1EF8, _BOR, 0), (0x1F08, 0x1F0F, _ADD, -8),
    (0x1F18, 0x1F1F, _ADD, -8), (0x1F28, 0x1F2F, _ADD, -8), (0x1F38, 0x1F3F, _ADD, -8),
    (0x1F48, 0x1F4D, _ADD, -8), (0x1F59, 0x1F59, _SET, 0x1F51), (0x1F5B, 0x1F5B, _SET, 0x1F53),
    (0x1F5D, 0x1F5D, _SET, 0x1F55), (0x1F5F, 0x1F5F, _SET, 0x1F57), (0x1F68, 0x1F6F, _ADD, -8),
    (0x1F88, 0x1F8F, _ADD, -8), (0x1F98, 0x1F9F, _ADD, -8), (0x1FA8, 0x1FAF, _ADD, -8),
    (0x1FB8, 0x1FB9, _ADD, -8), (0x1FBA, 0x1FBB, _ADD, -74), (0x1FBC, 0x1FBC, _SET, 0x1FB3),
    (0x1FC8, 0x1FCB, _ADD, -86), (0x1FCC, 0x1FCC, _SET, 0x1FC3), (0x1FD8, 0x1FD9, _ADD, -8),
    (0x1FDA, 0x1FDB, _ADD, -100), (0x1FE8, 0x1FE9, _ADD, -8), (0x1FEA, 0x1FEB, _ADD, -112),
    (0x1FEC, 0x1FEC, _SET, 0x1FE5), (0x1FF8, 0x1FF9, _ADD, -128), (0x1FFA, 0x1FFB, _ADD, -126),
    (0x1FFC, 0x1FFC, _SET, 0x1FF3), (0x2160, 0x216F, _ADD, 16), (0x24B6, 0x24D0, _ADD, 26),
    (0xFF21, 0xFF3A, _ADD, 32),
)  # fmt: skip
""".NET's table for lower-casing a class *range* under IgnoreCase (``RegexCharClass.s_lcTable``,
read from Mono 6.8 by reflection): ``(first, last, operation, data)``. It is not ``ToLower``:
``[À-Þ]`` also gains ``÷`` (× + 32), ``[Α-Ω]`` gains ``ς`` (unassigned U+03A2 + 32), and most
ranges past Latin Extended-A gain nothing."""


@functools.cache
def _lower_table() -> dict[int, int]:
    table: dict[int, int] = {}
    for code in range(0x10000):
        lower = chr(code).lower()
        if len(lower) == 1 and ord(lower) != code and not contains(_KEEPS_CASE, code):
            table[code] = ord(lower)
    return table


def dotnet_lower(code: int) -> int:
    """Return what .NET's invariant ``char.ToLower`` gives for ``code`` (astral: unchanged)."""
    return _lower_table().get(code, code)


@functools.cache
def _changed_by_lower() -> CodepointRanges:
    return ranges_of(_lower_table())


def _lower_preimage(values: CodepointRanges) -> CodepointRanges:
    """Return every character whose .NET lower case is in ``values``."""
    table = _lower_table()
    kept = difference(values, _changed_by_lower())
    return union(kept, ranges_of(c for c, lower in table.items() if contains(values, lower)))


def _lowered_range(first: int, last: int) -> CodepointRanges:
    """Return what .NET adds to the class range ``first``-``last`` under IgnoreCase."""
    added: list[tuple[int, int]] = []
    for low, high, operation, data in _LC_TABLE:
        if high < first or low > last:
            continue
        start, end = max(low, first), min(high, last)
        if operation == _SET:
            start = end = data
        elif operation == _ADD:
            start, end = start + data, end + data
        elif operation == _BOR:
            start, end = start | 1, end | 1
        else:
            start, end = start + (start & 1), end + (end & 1)
        added.append((start, end))
    return union(added)


@functools.cache
def _word() -> CodepointRanges:
    return category_ranges(_WORD_CATEGORIES, bmp_only=True)


@functools.cache
def _digit() -> CodepointRanges:
    return category_ranges(frozenset({"Nd"}), bmp_only=True)


@functools.cache
def _space() -> CodepointRanges:
    separators = category_ranges(frozenset({"Zs", "Zl", "Zp"}), bmp_only=True)
    return union(separators, ((0x09, 0x0D), (0x85, 0x85)))


def _shorthand(letter: str) -> CodepointRanges:
    sets = {"w": _word, "d": _digit, "s": _space}
    ranges = sets[letter.lower()]()
    return complement(ranges) if letter.isupper() else ranges


@functools.cache
def _boundary() -> tuple[str, str]:
    word = class_source(union(_word(), _ZERO_WIDTH_JOINERS))
    after, before, not_after, not_before = (
        f"(?<={word})",
        f"(?={word})",
        f"(?<!{word})",
        f"(?!{word})",
    )
    return (
        f"(?:{after}{not_before}|{not_after}{before})",
        f"(?:{after}{before}|{not_after}{not_before})",
    )


def _is_word_char(char: str) -> bool:
    code = ord(char)
    return contains(_word(), code) or contains(_ZERO_WIDTH_JOINERS, code)


# --- the translator ----------------------------------------------------------------------------

_QUANTIFIER = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")
_ANGLED = re.compile(r"<([^>]*)>|'([^']*)'")
_OCTAL = re.compile(r"[0-7]{1,3}")
_X_SPACE = " \t\n\f\r"
_UNSUPPORTED_ESCAPES = {
    "p": "Unicode categories \\p{…}",
    "P": "Unicode categories \\P{…}",
    "G": "\\G (contiguous matches)",
}
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "e": 0x1B, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 9, "v": 0x0B}


class DotnetRegexError(MappingError):
    """A .NET pattern or replacement is invalid, or uses what Python cannot emulate."""

    code = "dotnet_regex"

    def __init__(self, reason: str, pattern: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"regular expression {pattern!r}{where}: {reason}")
        self.reason = reason
        self.pattern = pattern
        self.position = position


@dataclass(frozen=True)
class DotnetRegex:
    """A .NET pattern, its Python translation, and how .NET group numbers map to Python's."""

    source: str
    python: str
    compiled: re.Pattern[str]
    numbers: dict[int, int]
    """.NET group number → Python group index (0 is the whole match)."""
    names: frozenset[str]

    def subn(
        self, replacement: str | Callable[[re.Match[str]], str], string: str
    ) -> tuple[str, int]:
        """Replace every match as ``Regex.Replace`` does; return the text and the count.

        Unlike ``re.subn``, a match never starts where an empty match was just found: .NET
        moves one character on (``a*?`` on ``aaa`` gives ``XaXaXaX``, not ``XXXXXXX``).
        """
        out: list[str] = []
        done = position = count = 0
        while position <= len(string):
            found = self.compiled.search(string, position)
            if found is None:
                break
            out.append(string[done : found.start()])
            out.append(replacement(found) if callable(replacement) else found.expand(replacement))
            count += 1
            done = found.end()
            position = done + (found.start() == done)
        out.append(string[done:])
        return "".join(out), count


@dataclass(frozen=True)
class _Options:
    ignore_case: bool = False
    multiline: bool = False
    singleline: bool = False
    explicit_capture: bool = False
    verbose: bool = False


_OPTION_NAMES = {
    "i": "ignore_case",
    "m": "multiline",
    "s": "singleline",
    "n": "explicit_capture",
    "x": "verbose",
}


@dataclass(frozen=True)
class _Groups:
    """What the first pass learned: .NET group numbers and names."""

    numbers: dict[int, int]
    names: dict[str, int]
    """Group name → Python group index."""
    starts: tuple[int, ...]
    """Per Python group: where its ``(`` is."""


@dataclass(frozen=True)
class _ForwardRef:
    position: int
    enclosing: tuple[int, ...]
    in_lookbehind: bool


class _Translator:
    """Parse a .NET pattern as ``RegexParser`` does, writing the Python equivalent.

    Run twice: the first pass (``groups`` None) numbers the groups, which decides what ``\\12``
    means (a reference only if group 12 exists anywhere in the pattern, as in .NET).
    """

    def __init__(self, pattern: str, groups: _Groups | None, *, tolerant: bool = False) -> None:
        self.pattern = pattern
        self.groups = groups
        self.tolerant = tolerant
        """Read past bad escapes, to find unbalanced parentheses (:func:`_unbalanced`)."""
        self.at = 0
        self.captures: list[str | None] = []
        """Per Python group, in order: its name, or None (unnamed)."""
        self.capture_starts: list[int] = []
        self.open_captures: list[int] = []
        """Python indexes of the capturing groups being parsed."""
        self.open_groups: list[int] = []
        self.group_count = 0
        self.quantified: set[int] = set()
        self.lookbehinds = 0
        self.forward_refs: list[_ForwardRef] = []

    def fail(self, reason: str, position: int | None = None) -> DotnetRegexError:
        return DotnetRegexError(reason, self.pattern, self.at if position is None else position)

    def bad_escape(self, reason: str, position: int) -> int:
        """Raise for an invalid escape; when tolerant, go on as if it were a character."""
        if not self.tolerant:
            raise self.fail(reason, position)
        return 0

    def blank(self, options: _Options) -> None:
        """Skip ``(?#…)`` comments, and whitespace and ``#`` comments under ``(?x)``."""
        p = self.pattern
        while self.at < len(p):
            if options.verbose and p[self.at] in _X_SPACE:
                self.at += 1
            elif options.verbose and p[self.at] == "#":
                end = p.find("\n", self.at)
                self.at = len(p) if end < 0 else end
            elif p.startswith("(?#", self.at):
                end = p.find(")", self.at)
                if end < 0:
                    raise self.fail("unterminated (?#...) comment")
                self.at = end + 1
            else:
                return

    def sequence(self, options: _Options) -> list[str]:
        """Translate up to the ``)`` closing the current group (or the end): its alternatives."""
        p = self.pattern
        branches: list[str] = []
        current: list[str] = []
        last: int | None = None
        """Index in ``current`` of the atom a quantifier would repeat."""
        last_group: int | None = None
        last_anchor = False
        after_quantifier = False
        while True:
            self.blank(options)
            if self.at >= len(p) or p[self.at] == ")":
                break
            char = p[self.at]
            if char == "|":
                branches.append("".join(current))
                current, last, after_quantifier = [], None, False
                self.at += 1
                continue
            if char in "*+?" or (char == "{" and _QUANTIFIER.match(p, self.at)):
                if last is None:
                    what = (
                        "nested quantifier" if after_quantifier else "quantifier following nothing"
                    )
                    raise self.fail(f"{what} {char!r} (nothing to repeat)")
                if last_group is not None:
                    self.quantified.add(last_group)
                if last_anchor:  # .NET repeats ^ and $; Python wants them in a group
                    current[last] = f"(?:{current[last]})"
                current[last] += self.quantifier(options)
                last, last_group, after_quantifier = None, None, True
                continue
            after_quantifier, last_group, last_anchor = False, None, False
            atom: str | None
            if char == "(":
                atom, new_options, last_group = self.group(options)
                if new_options is not None:
                    options = new_options
            elif char == "[":
                self.at += 1
                values = self.char_class(options)
                atom = "" if self.groups is None else self.class_atom(values, options)
            elif char == "\\":
                atom = self.backslash(options)
                last_anchor = atom in ("\\A", "\\Z")
            elif char in "^$":
                self.at += 1
                atom = f"(?m:{char})" if options.multiline else char
                last_anchor = True
            elif char == ".":
                self.at += 1
                atom = "(?s:.)" if options.singleline else "."
            else:
                self.at += 1
                atom = self.literal(ord(char), options)
            if atom is None:
                continue
            current.append(atom)
            last = len(current) - 1
        branches.append("".join(current))
        return branches

    def quantifier(self, options: _Options) -> str:
        p = self.pattern
        found = _QUANTIFIER.match(p, self.at)
        if found is None:
            text = p[self.at]
            self.at += 1
        else:
            low, comma, high = found.groups()
            if comma and high and int(high) < int(low):
                raise self.fail("illegal {x,y} with x > y")
            text = found.group()
            self.at = found.end()
        self.blank(options)
        if p.startswith("?", self.at):
            text += "?"
            self.at += 1
        return text

    def close(self) -> None:
        if self.at >= len(self.pattern):
            raise self.fail("missing ')'")
        self.at += 1

    def body(self, options: _Options) -> str:
        return "|".join(self.sequence(options))

    def group(self, options: _Options) -> tuple[str | None, _Options | None, int | None]:
        """Translate a group at ``(``: its text, or new options for ``(?imnsx-imnsx)``."""
        p, start = self.pattern, self.at
        group_id = self.group_count
        self.group_count += 1
        if not p.startswith("?", start + 1) or p.startswith("?)", start + 1):
            self.at += 1
            if options.explicit_capture:
                return self.wrapped("(?:", options, group_id), None, group_id
            return self.capture(None, options, group_id), None, group_id
        self.at += 2
        kind = p[self.at : self.at + 1]
        if kind in (":", "=", "!", ">"):
            self.at += 1
            return self.wrapped(f"(?{kind}", options, group_id), None, group_id
        if kind in ("<", "'"):
            close = ">" if kind == "<" else "'"
            following = p[self.at + 1 : self.at + 2]
            if following in ("=", "!") and close == ">":
                self.at += 2
                return self.lookbehind(following, options, group_id), None, group_id
            self.at += 1
            return self.named(close, start, options, group_id), None, group_id
        if kind == "(":
            raise self.fail("conditionals (?(…)…) not supported", start)
        new_options = self.scan_options(options)
        ending = p[self.at : self.at + 1]
        if ending == ")":
            self.at += 1
            return None, new_options, None
        if ending != ":":
            raise self.fail(f"unrecognized grouping construct {p[start : self.at + 1]!r}", start)
        self.at += 1
        return self.wrapped("(?:", new_options, group_id), None, group_id

    def scan_options(self, options: _Options) -> _Options:
        p = self.pattern
        off = False
        while self.at < len(p):
            char = p[self.at]
            if char in "+-":
                off = char == "-"
            elif char in _OPTION_NAMES:
                options = replace(options, **{_OPTION_NAMES[char]: not off})
            else:
                break
            self.at += 1
        return options

    def wrapped(self, opening: str, options: _Options, group_id: int) -> str:
        self.open_groups.append(group_id)
        text = opening + self.body(options)
        self.close()
        self.open_groups.pop()
        return text + ")"

    def lookbehind(self, sign: str, options: _Options, group_id: int) -> str:
        self.open_groups.append(group_id)
        self.lookbehinds += 1
        branches = self.sequence(options)
        self.close()
        self.lookbehinds -= 1
        self.open_groups.pop()
        if len(branches) == 1:
            return f"(?<{sign}{branches[0]})"
        # Python wants one width per lookbehind: (?<=ab|c) → (?:(?<=ab)|(?<=c)).
        each = [f"(?<{sign}{branch})" for branch in branches]
        return f"(?:{'|'.join(each)})" if sign == "=" else f"(?:{''.join(each)})"

    def capture(self, name: str | None, options: _Options, group_id: int) -> str:
        index = len(self.captures) + 1
        self.captures.append(name)
        self.capture_starts.append(self.at)
        self.open_captures.append(index)
        opening = "(" if name is None else f"(?P<{name}>"
        text = self.wrapped(opening, options, group_id)
        self.open_captures.pop()
        return text

    def named(self, close: str, start: int, options: _Options, group_id: int) -> str:
        p = self.pattern
        end = self.at
        while end < len(p) and _is_word_char(p[end]):
            end += 1
        name = p[self.at : end]
        following = p[end : end + 1]
        if following == "-" or (not name and p.startswith("-", self.at)):
            raise self.fail("balancing groups (?<a-b>…) are not supported", start)
        if not name or following != close:
            raise self.fail("invalid group name", start)
        if name[0].isdigit():
            raise self.fail("explicitly numbered groups (?<2>…) are not supported", start)
        if not name.isidentifier():
            raise self.fail(f"group name {name!r} is not a Python identifier", start)
        if name in self.captures:
            raise self.fail(f"group name {name!r} is used twice (Python cannot merge them)", start)
        self.at = end + 1
        return self.capture(name, options, group_id)

    # --- escapes and literals --------------------------------------------------------------

    def backslash(self, options: _Options) -> str:
        p, start = self.pattern, self.at
        if start + 1 >= len(p):
            raise self.fail("illegal \\ at the end of the pattern")
        char = p[start + 1]
        if char in _UNSUPPORTED_ESCAPES:
            self.at += 2
            return literal(self.bad_escape(f"{_UNSUPPORTED_ESCAPES[char]} not supported", start))
        anchors = {"A": "\\A", "z": "\\Z", "Z": "(?=\\n?\\Z)"}
        if char in anchors or char in "bB":
            self.at += 2
            if char in anchors:
                return anchors[char]
            return _boundary()[char == "B"]
        if char in "wWsSdD":
            self.at += 2
            return "" if self.groups is None else self.class_atom(_shorthand(char), options)
        if char == "k":
            self.at += 2
            reference = self.angled_reference(start, options)
            if reference is None:
                return literal(self.bad_escape("malformed \\k<...> named back reference", start))
            return reference
        if char in "<'":
            self.at += 1
            reference = self.angled_reference(start, options)
            if reference is not None:
                return reference
        elif char in "123456789":
            end = start + 1
            while end < len(p) and p[end].isdigit():
                end += 1
            number = int(p[start + 1 : end])
            if self.groups is None or number in self.groups.numbers:
                self.at = end
                return self.reference(number, start, options)
            if number <= 9:
                raise self.fail(f"reference to undefined group number {number}", start)
        self.at = start + 1
        return self.literal(self.char_escape(), options)

    def angled_reference(self, start: int, options: _Options) -> str | None:
        """Parse ``<name>``/``'name'``/``<2>`` after ``\\k`` or ``\\``; None if malformed."""
        found = _ANGLED.match(self.pattern, self.at)
        if found is None:
            return None
        key = found.group(1) if found.group(1) is not None else found.group(2)
        if key.isdigit():
            self.at = found.end()
            if self.groups is not None and int(key) not in self.groups.numbers:
                raise self.fail(f"reference to undefined group number {key}", start)
            return self.reference(int(key), start, options)
        if not key or key[0].isdigit() or not all(_is_word_char(c) for c in key):
            return None
        self.at = found.end()
        if self.groups is not None and key not in self.groups.names:
            raise self.fail(f"reference to undefined group name {key!r}", start)
        return self.reference(key, start, options)

    def reference(self, key: int | str, position: int, options: _Options) -> str:
        if self.groups is None:
            return ""
        if isinstance(key, str):
            index = self.groups.names[key]
            inner = f"(?P={key})"
        else:
            if key == 0:
                raise self.fail("a reference to group 0 (the whole match) is not supported")
            index = self.groups.numbers[key]
            inner = f"\\{index}"
        if index in self.open_captures:
            raise self.fail(f"reference to group {key!r} from inside it is not supported", position)
        if self.groups.starts[index - 1] > position:
            enclosing = tuple(self.open_groups)
            self.forward_refs.append(_ForwardRef(position, enclosing, self.lookbehinds > 0))
            return "(?!)"
        if options.ignore_case:
            return f"(?i:{inner})"
        return inner if isinstance(key, str) else f"(?:{inner})"

    def char_escape(self) -> int:
        """Parse the escape after ``\\`` as ``RegexParser.ScanCharEscape`` does; return the char."""
        p, start = self.pattern, self.at - 1
        char = p[self.at]
        self.at += 1
        if "0" <= char <= "7":
            octal = _OCTAL.match(p, self.at - 1)
            assert octal is not None  # noqa: S101 - char is an octal digit
            self.at = octal.end()
            return int(octal.group(), 8) & 0xFF
        if char in "xu":
            size = 2 if char == "x" else 4
            digits = p[self.at : self.at + size]
            if len(digits) < size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                return self.bad_escape(f"insufficient hex digits after \\{char}", start)
            self.at += size
            return int(digits, 16)
        if char == "c":
            if self.at >= len(p):
                return self.bad_escape("missing control character", start)
            control = ord(p[self.at].upper() if "a" <= p[self.at] <= "z" else p[self.at]) - 64
            if not 0 <= control < 32:
                return self.bad_escape("unrecognized control character", start)
            self.at += 1
            return control
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if _is_word_char(char):
            return self.bad_escape(f"unrecognized escape sequence \\{char}", start)
        return ord(char)

    def literal(self, code: int, options: _Options) -> str:
        if not options.ignore_case or self.groups is None:
            return literal(code)
        return self.class_atom(((dotnet_lower(code), dotnet_lower(code)),), options)

    def class_atom(self, values: CodepointRanges, options: _Options) -> str:
        """Python source for an atom accepting the (lower-cased, under ``(?i)``) ``values``."""
        return class_source(_lower_preimage(values) if options.ignore_case else values)

    def char_class(self, options: _Options) -> CodepointRanges:
        """Parse a class after its ``[`` as ``RegexParser.ScanCharClass`` does.

        Return the values it accepts: under ``(?i)`` these are compared with the lower-cased
        input character, so single characters are lower-cased and ranges widened with .NET's
        range table (``RegexCharClass.AddLowercase``).
        """
        p, start = self.pattern, self.at - 1
        negate = p.startswith("^", self.at)
        self.at += negate
        items: list[tuple[int, int]] = []
        shorthands: list[CodepointRanges] = []
        subtract = EMPTY
        first, in_range, closed, previous = True, False, False, 0
        while self.at < len(p):
            translated = False
            char = p[self.at]
            self.at += 1
            if char == "]" and not first:
                closed = True
                break
            if char == "\\" and self.at < len(p):
                escaped = p[self.at]
                if escaped in "dDsSwW":
                    if in_range:
                        raise self.fail(f"cannot include class \\{escaped} in character range")
                    self.at += 1
                    shorthands.append(_shorthand(escaped))
                    first = False
                    continue
                if escaped in "pP":
                    raise self.fail(f"{_UNSUPPORTED_ESCAPES[escaped]} not supported", self.at - 1)
                if escaped == "-":
                    self.at += 1
                    items.append((ord("-"), ord("-")))
                    first = False
                    continue
                code = self.char_escape()
                translated = True
            else:
                code = ord(char)
                if char == "[" and p.startswith(":", self.at) and not in_range:
                    saved, end = self.at, self.at + 1
                    while end < len(p) and _is_word_char(p[end]):
                        end += 1
                    self.at = end + 2 if p.startswith(":]", end) else saved
            if in_range:
                in_range = False
                if char == "[" and not translated and not first:
                    items.append((previous, previous))
                    subtract = self.subtraction(options)
                else:
                    if previous > code:
                        raise self.fail("[x-y] range in reverse order")
                    items.append((previous, code))
            elif self.at + 1 < len(p) and p[self.at] == "-" and p[self.at + 1] != "]":
                previous, in_range = code, True
                self.at += 1
            elif char == "-" and not translated and p.startswith("[", self.at) and not first:
                self.at += 1
                subtract = self.subtraction(options)
            else:
                items.append((code, code))
            first = False
        if not closed:
            raise self.fail("unterminated [] set", start)
        if options.ignore_case:
            lowered: list[Iterable[tuple[int, int]]] = []
            for low, high in items:
                if low == high:
                    lowered.append(((dotnet_lower(low), dotnet_lower(low)),))
                else:
                    lowered += [((low, high),), _lowered_range(low, high)]
            values = union(*lowered, *shorthands)
        else:
            values = union(items, *shorthands)
        if negate:
            values = complement(values)
        return difference(values, subtract)

    def subtraction(self, options: _Options) -> CodepointRanges:
        values = self.char_class(options)
        if self.at < len(self.pattern) and self.pattern[self.at] != "]":
            raise self.fail("a subtraction must be the last element in a character class")
        return values

    def run(self) -> str:
        python = self.body(_Options())
        if self.at < len(self.pattern):
            raise self.fail("too many ')'")
        return python

    def numbered(self) -> _Groups:
        """Return the groups this (first) pass found, numbered as .NET numbers them."""
        captures = self.captures
        unnamed = [index + 1 for index, name in enumerate(captures) if name is None]
        named = [index + 1 for index, name in enumerate(captures) if name is not None]
        numbers = {0: 0} | {number: index for number, index in enumerate(unnamed + named, 1)}
        names = {name: index + 1 for index, name in enumerate(captures) if name is not None}
        return _Groups(numbers, names, tuple(self.capture_starts))


@functools.lru_cache(maxsize=1024)
def compile_dotnet(pattern: str) -> DotnetRegex:
    """Translate and compile a .NET pattern (cached); raise DotnetRegexError."""
    first = _Translator(pattern, None)
    try:
        first.run()
    except DotnetRegexError as error:
        raise (_unbalanced(pattern) or error) from None
    groups = first.numbered()
    translator = _Translator(pattern, groups)
    python = translator.run()
    for ref in translator.forward_refs:
        if ref.in_lookbehind or translator.quantified & set(ref.enclosing):
            raise DotnetRegexError(
                "a reference to a group that opens later, inside a repeated group or a "
                "lookbehind, is not supported",
                pattern,
                ref.position,
            )
    try:
        compiled = re.compile(python)
    except re.error as exc:
        raise DotnetRegexError(f"{exc.msg} (as Python {python!r})", pattern) from None
    names = frozenset(groups.names)
    return DotnetRegex(pattern, python, compiled, groups.numbers, names)


def _unbalanced(pattern: str) -> DotnetRegexError | None:
    """The missing or extra ``)`` of an invalid pattern, if it has one.

    Reported before any other error (.NET reports the first it meets: for ``CORP\\x(`` it
    says the ``\\x`` lacks hex digits), since it is what the pattern's author needs to see.
    """
    try:
        _Translator(pattern, None, tolerant=True).run()
    except DotnetRegexError as error:
        if error.reason in ("missing ')'", "too many ')'"):
            return error
    return None


def translate(pattern: str) -> str:
    """Return the Python equivalent of a .NET pattern."""
    return compile_dotnet(pattern).python


# --- replacement strings --------------------------------------------------------------------

_DOLLAR = re.compile(r"\$(?:(\d+)|\{(\w+)\}|([$&`'+_]))")


class Special(Enum):
    """Replacement tokens that are not a group: ``$``` (before), ``$'`` (after), ``$_``."""

    BEFORE = "$`"
    AFTER = "$'"
    INPUT = "$_"


@dataclass(frozen=True)
class Replacement:
    """A .NET replacement string split into literal text, group indexes and specials."""

    parts: tuple[str | int | Special, ...]
    """Literal text, a Python group index, or a :class:`Special`."""

    def expand(self, match: re.Match[str]) -> str:
        """Return the replacement for one match."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, int):
                out.append(match.group(part) or "")
            else:
                out.append(_special(part, match))
        return "".join(out)

    def python_template(self) -> str | None:
        """Return an equivalent ``re.sub`` template, or None when one cannot express it."""
        if any(isinstance(part, Special) for part in self.parts):
            return None
        return "".join(
            f"\\g<{p}>" if isinstance(p, int) else str(p).replace("\\", "\\\\") for p in self.parts
        )


def _special(kind: Special, match: re.Match[str]) -> str:
    if kind is Special.BEFORE:
        return match.string[: match.start()]
    if kind is Special.AFTER:
        return match.string[match.end() :]
    return match.string


@functools.lru_cache(maxsize=1024)
def compile_replacement(replacement: str, pattern: str) -> Replacement:
    """Parse a .NET replacement string for ``pattern`` (cached)."""
    regex = compile_dotnet(pattern)
    parts: list[str | int | Special] = []
    text = ""
    at = 0
    for found in _DOLLAR.finditer(replacement):
        number, name, symbol = found.groups()
        target: str | int | Special | None
        if number is not None or (name is not None and name.isdigit()):
            target = regex.numbers.get(int(number if number is not None else name))
        elif name is not None:
            target = regex.compiled.groupindex.get(name)
        else:
            plain: dict[str, str | int] = {"$": "$", "&": 0, "+": regex.numbers[max(regex.numbers)]}
            target = plain[symbol] if symbol in plain else Special("$" + symbol)
        if target is None:
            continue
        text += replacement[at : found.start()]
        at = found.end()
        if isinstance(target, str):
            text += target
            continue
        if text:
            parts.append(text)
        parts.append(target)
        text = ""
    text += replacement[at:]
    if text:
        parts.append(text)
    return Replacement(tuple(parts))


def translate_replacement(replacement: str, pattern: str) -> str:
    """Return the ``re.sub`` template for a .NET replacement; raise if none can express it."""
    template = compile_replacement(replacement, pattern).python_template()
    if template is None:
        raise DotnetRegexError(
            "$`, $' and $_ have no re.sub template form (regex_replace handles them)", replacement
        )
    return template


@functools.lru_cache(maxsize=1024)
def replacer(replacement: str, pattern: str) -> str | Callable[[re.Match[str]], str]:
    compiled = compile_replacement(replacement, pattern)
    template = compiled.python_template()
    return compiled.expand if template is None else template


def regex_replace(value: str, pattern: str, replacement: str) -> str:
    """Do what .NET ``Regex.Replace(value, pattern, replacement)`` does: replace every match."""
    return replace_all(value, pattern, replacement)[0]


def replace_all(value: str, pattern: str, replacement: str) -> tuple[str, int]:
    """Return ``Regex.Replace``'s result and how many matches it replaced."""
    return compile_dotnet(pattern).subn(replacer(replacement, pattern), value)


def search(pattern: str, value: str) -> bool:
    """Return whether the .NET pattern matches anywhere in ``value`` (ADFS ``=~``)."""
    return compile_dotnet(pattern).compiled.search(value) is not None
