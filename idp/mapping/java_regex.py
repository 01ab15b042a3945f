"""Java regular expressions (Okta's Group Filter dialect) rewritten as Python ones.

Okta writes named groups as ``(?{{name}}...)`` and runs the result as a Java regex (reference
idp-mappings.md §2.1, §9). The pattern is parsed the way ``java.util.regex.Pattern`` (Java 17)
parses it; what means something else in Python is written out:

* ``\\w``, ``\\d``, ``\\s`` and case-insensitivity are ASCII-only unless ``(?U)``
  (UNICODE_CHARACTER_CLASS: ``\\w`` is Alphabetic, marks, ``\\p{Nd}``, ``\\p{Pc}`` and the
  joiners, ``\\s`` White_Space); ``(?u)`` (UNICODE_CASE) makes only ``(?i)`` Unicode-aware, and
  ``\\w``/``\\d``/``\\s`` never compare case-insensitively;
* ``.`` excludes every line terminator (``\\n``, ``\\r``, ``\\u0085``, ``\\u2028``, ``\\u2029``;
  only ``\\n`` under ``(?d)``); ``$`` and ``\\Z`` also match before a final ``\\r``, ``\\r\\n``,
  ``\\u0085``, ``\\u2028`` or ``\\u2029``, and ``(?m)`` ``^``/``$`` treat those as line ends
  (never between ``\\r`` and ``\\n``; ``(?m)^`` never at the end of the input);
* ``\\b`` is a boundary between a letter, digit or ``_`` (Unicode, Java 17) and anything else,
  a combining mark counting as its base letter;
  ``\\h``, ``\\v`` (vertical whitespace, not ``\\x0b``), ``\\R``, ``\\e``, ``\\cX``, ``\\x{…}``,
  octal ``\\0nnn``, ``\\Q…\\E``;
* ``(?x)``: whitespace and ``#`` comments are dropped, inside character classes too;
* inline flags in mid-pattern — legal in Java, an error in Python 3.11 — become scoped groups
  reaching to the end of the enclosing group, alternative by alternative.

What Java refuses is refused too (``a{,2}``, ``\\y``, ``[\\b]``, ``\\0``…): a ValueError naming
the position, as for what Python cannot express (``\\p{…}``, ``\\X``, ``\\G``, class union and
intersection, a reference to a group defined later).

Known differences that remain: ``\\b`` after more than four combining marks in a row; under
``(?iu)`` Python's Unicode case folding is used, which matches Java's for single characters
(but ``[ß]`` also matches ``ẞ``) while a class range also takes characters whose case partner is
in it (``[A-Z]`` the Kelvin sign and ``İ``, ``[À-Þ]`` the Angstrom sign: Java only tries the
input's upper case and its lower case); the Unicode database is Python's (14.0), not Java 17's
(13.0). :func:`translate_java_regex` keeps Python's ``$`` unless asked (see there).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, replace

from idp.mapping.dotnet_regex import (
    CodepointRanges,
    category_ranges,
    class_body,
    class_source,
    complement,
    literal,
    union,
)

_OKTA_GROUP = re.compile(r"\(\?\{\{([A-Za-z][A-Za-z0-9]*)\}\}")
_FLAGS = re.compile(r"\?([idmsuxU]*)(?:-([idmsuxU]*))?([:)])")
_QUANTIFIER = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")
_GROUP_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
_OCTAL = re.compile(r"[0-3][0-7]{2}|[0-7]{1,2}")
_UNSUPPORTED_ESCAPES = {
    "p": r"\p{…} classes",
    "P": r"\P{…} classes",
    "X": r"\X",
    "G": r"\G",
}
_OUTSIDE_CLASS = "abdefhnrstvwzABDGHQRSVWXZckNpPux"
_INSIDE_CLASS = "adefhnrstvwDHSVWcNpPuxQ"
_COPIED = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09}
"""Escapes Python reads as Java does: copied as written."""
_CONTROLS = {"a": 0x07, "e": 0x1B}
_SPACE = " \t\n\x0b\f\r"
_TERMINATORS = "\\n\\r\\x85\\u2028\\u2029"

_ASCII: dict[str, CodepointRanges] = {
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0D), (0x20, 0x20)),
    "h": (
        (0x09, 0x09), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E),
        (0x2000, 0x200A), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
    ),
    "v": ((0x0A, 0x0D), (0x85, 0x85), (0x2028, 0x2029)),
}  # fmt: skip
"""Java's ``\\w``, ``\\d``, ``\\s`` (without ``(?U)``), ``\\h`` and ``\\v``."""

_WHITE_SPACE: CodepointRanges = (
    (0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
"""``(?U)\\s``: the Unicode White_Space property."""

_OTHER_ALPHABETIC_SYMBOLS: CodepointRanges = (
    (0x200C, 0x200D), (0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189),
)  # fmt: skip
"""The joiners and the circled/squared letters (Alphabetic, category So) ``(?U)\\w`` adds."""

_SET, _TEXT = -2, -1
"""Codes :meth:`_Translator.class_item` gives members that are not one character."""

_MARK_RUN = 4
"""How many combining marks after a letter :func:`_boundary` sees through."""


@dataclass(frozen=True)
class _Flags:
    i: bool = False
    d: bool = False
    m: bool = False
    s: bool = False
    u: bool = False
    x: bool = False
    U: bool = False

    @property
    def unicode_case(self) -> bool:
        return self.u or self.U


@functools.cache
def _unicode_word() -> CodepointRanges:
    """``(?U)\\w``: Alphabetic, marks, decimal digits, connector punctuation, joiners."""
    categories = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Mn", "Mc", "Me", "Nd", "Pc"}
    return union(category_ranges(frozenset(categories), bmp_only=False), _OTHER_ALPHABETIC_SYMBOLS)


def _shorthand(letter: str, flags: _Flags, unicode: bool, *, in_class: bool) -> str:
    """Python source for ``\\w``-like ``letter``: the shorthand itself where it means the same."""
    lower = letter.lower()
    if lower == "d" and flags.U or lower in "wds" and not unicode:
        return "\\" + letter  # Python's \d is \p{Nd}; under re.ASCII \w, \d, \s are Java's
    if flags.U and lower in "ws":
        ranges = _unicode_word() if lower == "w" else _WHITE_SPACE
    else:
        ranges = _ASCII[lower]
    if letter.isupper():
        ranges = complement(ranges)
    return class_body(ranges) if in_class else class_source(ranges)


@functools.cache
def _unicode_boundary(negated: bool) -> str:
    """``(?U)\\b`` (``\\B``): a boundary of ``(?U)\\w``."""
    word = class_source(_unicode_word())
    after, before, not_after, not_before = (
        f"(?<={word})",
        f"(?={word})",
        f"(?<!{word})",
        f"(?!{word})",
    )
    if negated:
        return f"(?:{after}{before}|{not_after}{not_before})"
    return f"(?:{after}{not_before}|{not_after}{before})"


@functools.cache
def _boundary(negated: bool) -> str:
    """Java 17's ``\\b`` (``\\B``): letters/digits (Unicode) and ``_`` are word characters; a
    combining mark counts as its base letter's (through up to :data:`_MARK_RUN` marks)."""
    letters = category_ranges(frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"}), bmp_only=False)
    marks = class_source(category_ranges(frozenset({"Mn"}), bmp_only=False))
    base = class_source(letters)
    word = class_source(union(letters, ((0x5F, 0x5F),)))
    based = [f"(?<={base}{marks}{{{n}}})" for n in range(1, _MARK_RUN + 1)]
    left = f"(?:(?<={word})|{'|'.join(based)})"
    right = f"(?:(?={word})|(?={marks})(?:(?<={base})|{'|'.join(based)}))"
    if negated:
        return f"(?:(?={left})(?={right})|(?!{left})(?!{right}))"
    return f"(?:(?={left})(?!{right})|(?!{left})(?={right}))"


def _dollar(flags: _Flags, exact: bool) -> str:
    """Java's ``$`` (and ``\\Z`` when not multiline) under ``flags``."""
    if flags.m:
        if flags.d:
            return "(?m:$)"
        return "(?:(?=[\\r\\x85\\u2028\\u2029]|\\Z)|(?<!\\r)(?=\\n))"
    if flags.d or not exact:
        return "$"
    return "(?:(?=(?:\\r\\n|[\\r\\x85\\u2028\\u2029])?\\Z)|(?<!\\r)(?=\\n\\Z))"


def _caret(flags: _Flags) -> str:
    if not flags.m:
        return "^"
    if flags.d:
        return "(?:(?!\\Z)(?m:^))"
    return "(?:(?!\\Z)(?:\\A|(?<=[\\n\\x85\\u2028\\u2029])|(?<=\\r)(?!\\n)))"


class _Translator:
    def __init__(self, pattern: str, source: str, *, unicode: bool, exact: bool) -> None:
        self.pattern = pattern
        self.source = source
        self.unicode = unicode
        """Python gets no re.ASCII: ASCII-only meanings are written out."""
        self.exact = exact
        self.at = 0
        self.out: list[str] = []
        self.frames: list[list[str]] = [[]]
        """Per open group: the scoped-flag groups opened inside it, still to be closed."""
        self.saved: list[_Flags] = []
        self.flags = _Flags()
        self.groups = 0
        self.saw_unicode = False

    def fail(self, message: str, position: int | None = None) -> ValueError:
        where = self.at if position is None else position
        return ValueError(f"{message} at position {where} of {self.pattern!r}")

    def skip_blank(self) -> None:
        """Under ``(?x)``, skip whitespace and ``#`` comments (to the end of the line)."""
        src = self.source
        while self.flags.x and self.at < len(src):
            if src[self.at] in _SPACE:
                self.at += 1
            elif src[self.at] == "#":
                ends = "\n" if self.flags.d else "\n\r\x85\u2028\u2029"
                while self.at < len(src) and src[self.at] not in ends:
                    self.at += 1
            else:
                return

    def case_scoped(self, atom: str, char: str | None = None) -> str:
        """Wrap ``atom`` so case-insensitivity compares as Java does under the current flags."""
        if not self.flags.i:
            return atom
        if self.flags.unicode_case:
            return "(?-i:ß)" if char == "ß" else atom  # Java: (?iu)ß is ß only
        if self.unicode and (char is None or char.lower() != char or char.upper() != char):
            return f"(?a:{atom})"  # ASCII-only case folding
        return atom

    def run(self) -> str:
        src = self.source
        while True:
            self.skip_blank()
            if self.at >= len(src):
                break
            char = src[self.at]
            if char == "\\":
                self.out.append(self.escape())
            elif char == "[":
                self.out.append(self.char_class())
            elif char == "(":
                self.open_group()
            elif char == ")":
                if len(self.frames) == 1:
                    raise self.fail("unbalanced ')'")
                self.out.append(")" * len(self.frames.pop()) + ")")
                self.flags = self.saved.pop()
                self.at += 1
            elif char == "|":
                opened = self.frames[-1]
                self.out.append(")" * len(opened) + "|" + "".join(f"(?{s}:" for s in opened))
                self.at += 1
            elif char == "{":
                self.out.append(self.counted())
            elif char == ".":
                self.out.append(self.dot())
                self.at += 1
            elif char == "^":
                self.out.append(_caret(self.flags))
                self.at += 1
            elif char == "$":
                self.out.append(_dollar(self.flags, self.exact))
                self.at += 1
            elif char in "*+?":
                self.out.append(char)
                self.at += 1
            else:
                self.out.append(self.case_scoped(char, char))
                self.at += 1
        self.out.append(")" * len(self.frames[0]))
        return "".join(self.out)

    def dot(self) -> str:
        if self.flags.s:
            return "(?s:.)"
        return "." if self.flags.d else f"[^{_TERMINATORS}]"

    def counted(self) -> str:
        """Translate ``{n}``, ``{n,}``, ``{n,m}`` (Java: anything else after ``{`` is an error)."""
        src, start = self.source, self.at
        if not src[start + 1 : start + 2].isdigit():
            raise self.fail("illegal repetition '{' (Java needs {n}, {n,} or {n,m})")
        text = src[start]
        self.at += 1
        while self.at < len(src) and src[self.at] != "}":
            self.skip_blank()
            char = src[self.at : self.at + 1]
            if not (char.isdigit() or char == ","):
                break
            text += char
            self.at += 1
        self.skip_blank()
        if not src.startswith("}", self.at) or _QUANTIFIER.fullmatch(text + "}") is None:
            raise self.fail("unclosed counted closure '{'", start)
        self.at += 1
        return text + "}"

    def open_group(self) -> None:
        src, start = self.source, self.at
        self.at += 1
        self.skip_blank()  # Java reads past (?x) whitespace here: "( ?:a)" is "(?:a)"
        if not src.startswith("?", self.at):
            self.groups += 1
            self.open("(")
            return
        for kind in (":", "=", "!", ">", "<=", "<!"):
            if src.startswith(kind, self.at + 1):
                self.at += 1 + len(kind)
                self.open(f"(?{kind}")
                return
        if src.startswith("<", self.at + 1):
            name = _GROUP_NAME.match(src, self.at + 2)
            if name is None or not src.startswith(">", name.end()):
                raise self.fail("a group name must be a Latin letter then letters or digits", start)
            self.groups += 1
            self.at = name.end() + 1
            self.open(f"(?P<{name.group()}>")
            return
        flags = _FLAGS.match(src, self.at)
        if flags is None:
            raise self.fail("unknown inline modifier", start)
        self.inline_flags(flags)

    def open(self, text: str) -> None:
        self.saved.append(self.flags)
        self.out.append(text)
        self.frames.append([])

    def inline_flags(self, found: re.Match[str]) -> None:
        on, off = found.group(1), found.group(2) or ""
        self.at = found.end()
        self.saw_unicode = self.saw_unicode or "u" in on or "U" in on
        new = self.flags
        for letter in on:
            new = replace(new, **{letter: True})
        for letter in off:
            new = replace(new, **{letter: False})
        if "U" in on:
            new = replace(new, u=True)
        spec = "-i" if "i" in off else "i" if "i" in on else ""  # Java: (?i-i) is off
        if found.group(3) == ")":  # (?i) alone: on until the enclosing group closes
            self.flags = new
            if spec and not self.out and not off:
                self.out.append(f"(?{spec})")
            elif spec:
                self.out.append(f"(?{spec}:")
                self.frames[-1].append(spec)
            return
        self.open(f"(?{spec}:")
        self.flags = new

    # --- escapes -------------------------------------------------------------------------------

    def escape(self) -> str:
        """Translate one escape at ``source[at] == '\\'`` outside a class."""
        src, start = self.source, self.at
        letter = src[start + 1 : start + 2]
        if not letter:
            raise self.fail("pattern ends with a lone backslash")
        if letter == "Q":
            end = src.find("\\E", start + 2)
            quoted = src[start + 2 :] if end < 0 else src[start + 2 : end]
            self.at = len(src) if end < 0 else end + 2
            return "".join(self.case_scoped(re.escape(c), c) for c in quoted)
        if letter in _UNSUPPORTED_ESCAPES:
            raise self.fail(f"Java's {_UNSUPPORTED_ESCAPES[letter]} has no Python equivalent")
        if letter.isascii() and letter.isalpha() and letter not in _OUTSIDE_CLASS:
            raise self.fail(f"illegal/unsupported escape sequence \\{letter}")
        self.at = start + 2
        if letter == "k":
            end = src.find(">", start + 3)
            if not src.startswith("<", start + 2) or end < 0:
                raise self.fail(r"unterminated \k<name>")
            self.at = end + 1
            return self.case_scoped(f"(?P={src[start + 3 : end]})")
        if letter in "123456789":
            return self.backreference(start)
        anchors = {"z": "\\Z", "A": "\\A", "Z": _dollar(replace(self.flags, m=False), self.exact)}
        if letter in anchors:
            return anchors[letter] if self.exact or letter != "Z" else "(?=\\n?\\Z)"
        if letter in "bB":
            return (_unicode_boundary if self.flags.U else _boundary)(letter == "B")
        if letter == "R":
            return "(?>\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])"
        if letter.lower() in "wdshv":
            shorthand = _shorthand(letter, self.flags, self.unicode, in_class=False)
            return f"(?-i:{shorthand})" if self.unicode and self.flags.i else shorthand
        if letter in _COPIED or not letter.isalnum():
            return self.case_scoped(src[start : self.at], letter)  # \n, \#: as Python reads them
        code = self.char_code(letter, start)
        return self.case_scoped(literal(code), chr(code))

    def char_code(self, letter: str, start: int) -> int:
        """The character the escape ``\\`` + ``letter`` (+ what follows it) stands for."""
        src = self.source
        if letter in _COPIED or letter in _CONTROLS:
            return _COPIED.get(letter) or _CONTROLS[letter]
        if letter == "0":
            octal = _OCTAL.match(src, self.at)
            if octal is None:
                raise self.fail("illegal octal escape sequence", start)
            self.at = octal.end()
            return int(octal.group(), 8)
        if letter == "c":
            if self.at >= len(src):
                raise self.fail("illegal control escape sequence", start)
            self.at += 1
            return ord(src[self.at - 1]) ^ 64
        if letter == "x" and src.startswith("{", self.at):
            end = src.find("}", self.at)
            digits = src[self.at + 1 : end] if end > 0 else ""
            if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
                raise self.fail(r"bad \x{...} escape")
            self.at = end + 1
            return int(digits, 16)
        if letter in "xu":
            size = 2 if letter == "x" else 4
            digits = src[self.at : self.at + size]
            if not re.fullmatch(f"[0-9A-Fa-f]{{{size}}}", digits):
                raise self.fail(f"illegal \\{letter} escape sequence", start)
            self.at += size
            return int(digits, 16)
        if letter == "N":
            end = src.find("}", self.at)
            try:
                if not src.startswith("{", self.at) or end < 0:
                    raise KeyError(letter)
                char = unicodedata.lookup(src[self.at + 1 : end])
            except KeyError:
                raise self.fail(r"illegal \N{name} escape sequence", start) from None
            self.at = end + 1
            return ord(char)
        return ord(letter)

    def backreference(self, start: int) -> str:
        """``\\n``: Java takes more digits only while they name a group defined so far."""
        src = self.source
        number = int(src[start + 1])
        while src[self.at : self.at + 1].isdigit():
            longer = number * 10 + int(src[self.at])
            if longer > self.groups:
                break
            number, self.at = longer, self.at + 1
        if number > self.groups:
            raise self.fail(
                f"a reference to group {number}, which is not defined before it, is not supported",
                start,
            )
        return self.case_scoped(f"(?:\\{number})")

    # --- character classes ---------------------------------------------------------------------

    def class_peek(self) -> str:
        self.skip_blank()
        return self.source[self.at : self.at + 1]

    def char_class(self) -> str:
        """Translate ``[...]``; Java's nested classes and ``&&`` are refused."""
        src, start = self.source, self.at
        out: list[str] = []
        sets: list[str] = []
        """``\\w``-like members, which Java never compares case-insensitively."""
        members: list[str] = []
        """Every member, in order."""
        self.at += 1
        negated = src.startswith("^", self.at)  # only right after '[', even under (?x)
        self.at += negated
        first = True
        while True:
            char = self.class_peek()
            if not char:
                raise self.fail("unterminated character class", start)
            if char == "]" and not first:
                self.at += 1
                return self.class_text(negated, members, out, sets)
            if char == "[":
                raise self.fail("nested character classes (Java class union) are not supported")
            if src.startswith("&&", self.at):
                raise self.fail("character class intersection '&&' is not supported")
            first = False
            text, code = self.class_item()
            members.append(text)
            if code < 0:  # \w and the like, \Q...\E: a following '-' is a literal
                (sets if code == _SET else out).append(text)
                continue
            if self.class_peek() == "-" and src[self.at + 1 : self.at + 2] not in ("]", "["):
                self.at += 1
                following = self.class_peek()
                if not following:
                    raise self.fail("unterminated character class", start)
                if following == "\\" and src[self.at + 1 : self.at + 2] == "Q":
                    raise self.fail("a \\Q...\\E range end is not supported")
                high, end = self.class_item()
                if end < code:
                    raise self.fail("illegal character range")
                members[-1] = f"{text}-{high}"
            out.append(members[-1])

    def class_text(
        self, negated: bool, members: list[str], items: list[str], sets: list[str]
    ) -> str:
        caret = "^" if negated else ""
        if not (self.unicode and self.flags.i and sets):
            return self.case_scoped(f"[{caret}{''.join(members)}]")
        exact = f"(?-i:[{caret}{''.join(sets)}])"
        if not items:
            return exact
        folded = self.case_scoped(f"[{caret}{''.join(items)}]")
        return f"(?!{exact[:-1]})){folded}" if negated else f"(?:{exact}|{folded})"

    def class_item(self) -> tuple[str, int]:
        """One class member: its Python text and code point (``_SET``: ``\\w``-like, ``_TEXT``:
        ``\\Q...\\E``)."""
        src, start = self.source, self.at
        char = src[start]
        if char != "\\":
            self.at += 1
            return _class_literal(char), ord(char)
        letter = src[start + 1 : start + 2]
        if not letter:
            raise self.fail("pattern ends with a lone backslash")
        if letter in _UNSUPPORTED_ESCAPES:
            raise self.fail(f"Java's {_UNSUPPORTED_ESCAPES[letter]} has no Python equivalent")
        if letter.isascii() and letter.isalnum() and letter not in _INSIDE_CLASS + "0":
            raise self.fail(f"illegal/unsupported escape sequence \\{letter} in a class")
        self.at = start + 2
        if letter == "Q":
            end = src.find("\\E", self.at)
            quoted = src[self.at :] if end < 0 else src[self.at : end]
            self.at = len(src) if end < 0 else end + 2
            return "".join(_class_literal(c) for c in quoted), _TEXT
        if letter.lower() in "wdshv":
            return _shorthand(letter, self.flags, self.unicode, in_class=True), _SET
        code = self.char_code(letter, start)
        return _class_literal(chr(code)), code


def _class_literal(char: str) -> str:
    """``char`` inside a Python class, as written where that is safe."""
    if char in "\\]^-[&~|":
        return "\\" + char
    return char if char.isprintable() and not char.isspace() or char == " " else literal(ord(char))


def translate_java_regex(pattern: str, *, exact_end_anchors: bool = False) -> tuple[str, int]:
    """Return ``pattern`` (Java, with Okta's ``(?{{x}}``) as Python source and its re flags.

    The flags are ``re.ASCII`` unless the pattern turns ``(?u)``/``(?U)`` on; then they are 0
    and every ASCII-only meaning is written out. ``$`` and ``\\Z`` (not multiline) are written
    as Python's — which, unlike Java's, do not match before a final ``\\r``, ``\\r\\n``,
    ``\\u0085``, ``\\u2028`` or ``\\u2029`` — unless ``exact_end_anchors`` (what
    :func:`compile_java_regex` uses). Raises ValueError naming the position of a construct Java
    rejects or Python cannot express.
    """
    source = _OKTA_GROUP.sub(r"(?<\1>", pattern)
    translator = _Translator(pattern, source, unicode=False, exact=exact_end_anchors)
    python = translator.run()
    if not translator.saw_unicode:
        return python, re.ASCII
    translator = _Translator(pattern, source, unicode=True, exact=exact_end_anchors)
    return translator.run(), 0


def compile_java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Java/Okta regex as Python; ValueError says what is wrong with it."""
    python, flags = translate_java_regex(pattern, exact_end_anchors=True)
    try:
        return re.compile(python, flags)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None


def capture_body(python_pattern: str, name: str) -> str | None:
    """Return the source of the named group ``name`` in a Python pattern, or None."""
    start = python_pattern.find(f"(?P<{name}>")
    if start < 0:
        return None
    body_start = i = start + len(name) + 5
    depth, in_class = 1, False
    while i < len(python_pattern):
        char = python_pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return python_pattern[body_start:i]
        i += 1
    return None
