"""Translate .NET regular expressions (as ADFS runs them) into Python ``re`` patterns.

ADFS evaluates ``=~``, ``!~`` and ``RegExReplace`` with .NET's ``Regex`` and default options:
case-sensitive, unanchored search, ``Regex.Replace`` replacing every match (reference
idp-mappings.md §1.3, §9). What differs from Python and is translated here:

* named groups ``(?<name>…)`` / ``(?'name'…)`` → ``(?P<name>…)``; ``\\k<name>`` → ``(?P=name)``;
* group numbers: .NET numbers unnamed groups first, then named ones, so ``$1``/``\\1`` are
  mapped to the Python group with the same meaning;
* inline options in the middle of a pattern, which Python 3.11 rejects: ``abc(?i)def`` becomes
  ``abc(?i:def)``, the scope running to the end of the enclosing group, every later alternative
  of that group included (``a(?i)b|c`` → ``a(?i:b)|(?i:c)``);
* ``\\Z`` (end or before a final newline) → ``(?=\\n?\\Z)``, ``\\z`` → ``\\Z``, ``\\e``, ``\\cX``;
  ``x{,n}`` is literal text in .NET; set characters Python would read as set operations;
* replacement strings: ``$1``, ``${1}``, ``${name}``, ``$0``, ``$&``, ``$$``, ``$```, ``$'``,
  ``$+`` (the highest-numbered group), ``$_``; a ``$`` that names no group stays literal.

Not supported (a clear :class:`DotnetRegexError`): ``\\p{…}``/``\\P{…}`` Unicode categories,
``\\G``, balancing groups ``(?<a-b>…)``, explicitly numbered groups ``(?<2>…)``, conditionals
``(?(…)…)``, the ``n`` (ExplicitCapture) option, character-class subtraction ``[a-z-[aeiou]]``,
a name used by two groups, and lookbehinds Python cannot do (variable width). Case-insensitive
matching follows Python's Unicode case folding, not a .NET culture.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from idp.errors import MappingError

_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")
_GROUP_NAME = re.compile(r"[^\W\d]\w*")
_INLINE_FLAGS = re.compile(r"\(\?([imnsx]*)(?:-([imnsx]*))?([:)])")
_SIMPLE_ESCAPES = {"z": r"\Z", "Z": r"(?=\n?\Z)", "e": r"\x1b"}
_UNSUPPORTED_ESCAPES = {
    "p": "Unicode categories \\p{…}",
    "P": "Unicode categories \\P{…}",
    "G": "\\G (contiguous matches)",
}


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
class _Ref:
    """A backreference, resolved once every group is numbered."""

    key: int | str
    position: int


@dataclass(frozen=True)
class DotnetRegex:
    """A .NET pattern, its Python translation, and how .NET group numbers map to Python's."""

    source: str
    python: str
    compiled: re.Pattern[str]
    numbers: dict[int, int]
    """.NET group number → Python group index (0 is the whole match)."""
    names: frozenset[str]


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0
        self.captures: list[str | None] = []

    def fail(self, reason: str, position: int | None = None) -> DotnetRegexError:
        return DotnetRegexError(reason, self.pattern, self.at if position is None else position)

    def sequence(self, verbose: bool) -> list[str | _Ref]:
        """Translate up to the ``)`` closing the current group (or the end)."""
        p = self.pattern
        branches: list[list[str | _Ref]] = []
        current: list[str | _Ref] = []
        scopes: list[str] = []
        """Inline option groups seen so far in this group; each wraps the rest of it."""
        opened = 0
        while self.at < len(p) and p[self.at] != ")":
            char = p[self.at]
            if char == "|":
                current.extend(")" * opened)
                branches.append(current)
                current = [f"(?{flags}:" for flags in scopes]
                opened = len(scopes)
                self.at += 1
            elif char == "(" and (inline := _INLINE_FLAGS.match(p, self.at)) is not None:
                flags = self.python_flags(inline)
                self.at = inline.end()
                if inline.group(3) == ":":
                    current.extend(
                        [f"(?{flags}:", *self.sequence(_verbose(verbose, inline)), self.close()]
                    )
                else:
                    scopes.append(flags)
                    current.append(f"(?{flags}:")
                    opened += 1
                    verbose = _verbose(verbose, inline)
            elif char == "(":
                current.extend(self.group(verbose))
            elif char == "\\":
                current.append(self.escape(in_class=False))
            elif char == "[":
                current.append(self.char_class())
            elif char == "#" and verbose:
                end = p.find("\n", self.at)
                end = len(p) if end < 0 else end
                current.append(p[self.at : end])
                self.at = end
            elif char in "*+?{":
                current.append(self.quantifier())
            else:
                current.append(char)
                self.at += 1
        current.extend(")" * opened)
        branches.append(current)
        joined: list[str | _Ref] = []
        for index, branch in enumerate(branches):
            joined.extend(["|"] * (index > 0) + branch)
        return joined

    def close(self) -> str:
        if self.at >= len(self.pattern):
            raise self.fail("missing ')'")
        self.at += 1
        return ")"

    def python_flags(self, inline: re.Match[str]) -> str:
        on, off = inline.group(1), inline.group(2)
        if "n" in on + (off or ""):
            raise self.fail("the n (ExplicitCapture) option is not supported")
        on, off = "".join(sorted(set(on))), "".join(sorted(set(off or "") - set(on)))
        if not on and not off:
            return ""
        return on + (f"-{off}" if off else "")

    def group(self, verbose: bool) -> list[str | _Ref]:
        p, start = self.pattern, self.at
        rest = p[start + 1 :]
        if not rest.startswith("?"):
            self.at += 1
            self.captures.append(None)
            return ["(", *self.sequence(verbose), self.close()]
        for prefix in ("?:", "?=", "?!", "?<=", "?<!", "?>"):
            if rest.startswith(prefix):
                self.at += 1 + len(prefix)
                return [f"({prefix}", *self.sequence(verbose), self.close()]
        if rest.startswith("?#"):
            end = p.find(")", start)
            if end < 0:
                raise self.fail("missing ')' after the comment")
            self.at = end + 1
            return []
        named = re.match(r"\?(?:<([^>]*)>|'([^']*)')", rest)
        if named is None:
            what = "conditionals (?(…)…)" if rest.startswith("?(") else f"'({rest[:3]}'"
            raise self.fail(f"{what} not supported", start)
        name = named.group(1) if named.group(1) is not None else named.group(2)
        if "-" in name:
            raise self.fail("balancing groups (?<a-b>…) are not supported", start)
        if name.isdigit():
            raise self.fail("explicitly numbered groups (?<2>…) are not supported", start)
        if not _GROUP_NAME.fullmatch(name):
            raise self.fail(f"invalid group name {name!r}", start)
        if name in self.captures:
            raise self.fail(f"group name {name!r} is used twice (Python cannot merge them)", start)
        self.captures.append(name)
        self.at += 1 + named.end()
        return [f"(?P<{name}>", *self.sequence(verbose), self.close()]

    def escape(self, *, in_class: bool) -> str | _Ref:
        p, start = self.pattern, self.at
        if start + 1 >= len(p):
            raise self.fail("illegal \\ at the end of the pattern")
        char = p[start + 1]
        self.at += 2
        if char in _UNSUPPORTED_ESCAPES:
            raise self.fail(f"{_UNSUPPORTED_ESCAPES[char]} not supported", start)
        if in_class:
            return p[start : self.at]
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "c":
            if self.at >= len(p) or not p[self.at].isascii() or not p[self.at].isalpha():
                raise self.fail("\\c must be followed by a letter", start)
            self.at += 1
            return f"\\x{ord(p[self.at - 1].upper()) - 64:02x}"
        if char in "123456789":
            digits = re.match(r"\d*", p[self.at :])
            self.at += len(digits.group()) if digits else 0
            return _Ref(int(p[start + 1 : self.at]), start)
        if char == "k":
            named = re.match(r"<([^>]*)>|'([^']*)'", p[self.at :])
            if named is None:
                raise self.fail("malformed \\k<…> backreference", start)
            self.at += named.end()
            key = named.group(1) if named.group(1) is not None else named.group(2)
            return _Ref(int(key) if key.isdigit() else key, start)
        return p[start : self.at]

    def char_class(self) -> str:
        p, start = self.pattern, self.at
        out = ["["]
        self.at += 1
        if p.startswith("^", self.at):
            out.append("^")
            self.at += 1
        first = True
        while self.at < len(p) and (p[self.at] != "]" or first):
            char = p[self.at]
            if char == "\\":
                out.append(str(self.escape(in_class=True)))
            elif char == "-" and p.startswith("[", self.at + 1):
                raise self.fail("character class subtraction [a-z-[…]] is not supported")
            else:
                following_dash = char == "-" and out[-1] == "-"
                out.append("\\" + char if char in "[&~|" or following_dash else char)
                self.at += 1
            first = False
        if self.at >= len(p):
            raise self.fail("unterminated [] set", start)
        self.at += 1
        return "".join(out) + "]"

    def quantifier(self) -> str:
        p, start = self.pattern, self.at
        if p[start] == "{":
            found = _QUANTIFIER.match(p, start)
            if found is None:
                self.at += 1
                return "\\{"
            self.at = found.end()
        else:
            self.at += 1
        if p.startswith("?", self.at):
            self.at += 1
        following = p[self.at : self.at + 1]
        if following in ("*", "+", "?") or _QUANTIFIER.match(p, self.at):
            raise self.fail(f"nested quantifier {following!r}")
        return p[start : self.at]


def _verbose(current: bool, inline: re.Match[str]) -> bool:
    if "x" in inline.group(1):
        return True
    return False if "x" in (inline.group(2) or "") else current


@functools.lru_cache(maxsize=1024)
def compile_dotnet(pattern: str) -> DotnetRegex:
    """Translate and compile a .NET pattern (cached); raise DotnetRegexError."""
    translator = _Translator(pattern)
    parts = translator.sequence(verbose=False)
    if translator.at < len(pattern):
        raise translator.fail("too many ')'")
    captures = translator.captures
    unnamed = [index + 1 for index, name in enumerate(captures) if name is None]
    named = [index + 1 for index, name in enumerate(captures) if name is not None]
    numbers = {0: 0} | {number: index for number, index in enumerate(unnamed + named, 1)}
    names = frozenset(name for name in captures if name is not None)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part.key, str):
            if part.key not in names:
                raise DotnetRegexError(
                    f"reference to undefined group name {part.key!r}", pattern, part.position
                )
            out.append(f"(?P={part.key})")
        elif part.key in numbers and part.key > 0:
            out.append(f"(?:\\{numbers[part.key]})")
        else:
            raise DotnetRegexError(
                f"reference to undefined group number {part.key}", pattern, part.position
            )
    python = "".join(out)
    try:
        compiled = re.compile(python)
    except re.error as exc:
        raise DotnetRegexError(f"{exc.msg} (as Python {python!r})", pattern) from None
    return DotnetRegex(pattern, python, compiled, numbers, names)


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
    return compile_dotnet(pattern).compiled.subn(replacer(replacement, pattern), value)


def search(pattern: str, value: str) -> bool:
    """Return whether the .NET pattern matches anywhere in ``value`` (ADFS ``=~``)."""
    return compile_dotnet(pattern).compiled.search(value) is not None
