"""Java regular expressions (Okta's Group Filter dialect) rewritten as Python ones.

Okta writes named groups as ``(?{{name}}...)`` and runs the result as a Java regex (reference
idp-mappings.md §2.1, §9). Java and Python agree on most syntax; this module rewrites the rest
and refuses, with the position, what Python cannot express.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_OKTA_GROUP = re.compile(r"\(\?\{\{([A-Za-z][A-Za-z0-9]*)\}\}")
_FLAGS = re.compile(r"\(\?([idmsuxU]*)(?:-([idmsuxU]*))?([:)])")
_UNSUPPORTED_ESCAPES = {
    "p": r"\p{…} classes",
    "P": r"\P{…} classes",
    "h": r"\h",
    "H": r"\H",
    "R": r"\R",
    "X": r"\X",
    "G": r"\G",
    "v": r"\v",
    "V": r"\V",
    "c": r"\cX",
}


def translate_java_regex(pattern: str) -> tuple[str, int]:
    """Return ``pattern`` (Java, with Okta's ``(?{{x}}``) as Python source and its re flags.

    Java's defaults become explicit: ``re.ASCII`` (Java ``\\w``, ``\\d`` and ``(?i)`` are ASCII
    unless ``(?U)``/``(?u)``), and inline flags in mid-pattern — legal in Java, an error in Python
    3.11 — become scoped groups reaching to the end of the enclosing group, alternative by
    alternative. Raises ValueError naming the position of a construct Python cannot express.
    """
    source = _OKTA_GROUP.sub(r"(?<\1>", pattern)
    out: list[str] = []
    frames: list[list[str]] = [[]]
    """Per open group: the scoped-flag groups opened inside it, still to be closed."""
    unicode = False
    i = 0

    def fail(message: str) -> ValueError:
        return ValueError(f"{message} at position {i} of {pattern!r}")

    while i < len(source):
        char = source[i]
        if char == "\\":
            text, i = _escape(source, i, in_class=False, fail=fail)
            out.append(text)
            continue
        if char == "[":
            text, i = _char_class(source, i, fail)
            out.append(text)
            continue
        if char == "(":
            flags = _FLAGS.match(source, i)
            if source.startswith("(?<", i) and source[i + 3 : i + 4] not in ("=", "!"):
                out.append("(?P<")
                i += 3
            elif flags is None:
                out.append("(")
                i += 1
            else:
                i = flags.end()
                on, off = _python_flags(flags.group(1)), _python_flags(flags.group(2) or "")
                unicode = unicode or "U" in flags.group(1) or "u" in flags.group(1)
                spec = on + (f"-{off}" if off else "")
                if flags.group(3) == ")":  # (?i) alone: on until the enclosing group closes
                    if spec and not out and not off:
                        out.append(f"(?{spec})")
                    elif spec:
                        out.append(f"(?{spec}:")
                        frames[-1].append(spec)
                    continue
                out.append(f"(?{spec}:")
            frames.append([])
            continue
        if char == ")":
            if len(frames) == 1:
                raise fail("unbalanced ')'")
            out.append(")" * len(frames.pop()) + ")")
        elif char == "|":
            opened = frames[-1]
            out.append(")" * len(opened) + "|" + "".join(f"(?{spec}:" for spec in opened))
        else:
            out.append(char)
        i += 1
    out.append(")" * len(frames[0]))
    return "".join(out), (0 if unicode else re.ASCII)


def _python_flags(java: str) -> str:
    """Keep the flags Python shares with Java (i, m, s, x); d, u and U have no scoped form."""
    return "".join(flag for flag in java if flag in "imsx")


def _escape(
    source: str, i: int, *, in_class: bool, fail: Callable[[str], ValueError]
) -> tuple[str, int]:
    """Translate one escape starting at ``source[i] == '\\'``; return it and the next index."""
    letter = source[i + 1 : i + 2]
    if not letter:
        raise fail("pattern ends with a lone backslash")
    if letter == "Q":
        end = source.find("\\E", i + 2)
        quoted = source[i + 2 :] if end < 0 else source[i + 2 : end]
        return re.escape(quoted), len(source) if end < 0 else end + 2
    if letter in _UNSUPPORTED_ESCAPES:
        raise fail(f"Java's {_UNSUPPORTED_ESCAPES[letter]} has no Python equivalent")
    if not in_class and letter == "k" and source.startswith("<", i + 2):
        end = source.find(">", i + 3)
        if end < 0:
            raise fail(r"unterminated \k<name>")
        return f"(?P={source[i + 3 : end]})", end + 1
    if not in_class and letter == "z":
        return r"\Z", i + 2
    if not in_class and letter == "Z":
        return r"(?=\n?\Z)", i + 2
    if letter == "e":
        return r"\x1b", i + 2
    if letter == "x" and source.startswith("{", i + 2):
        end = source.find("}", i + 3)
        digits = source[i + 3 : end] if end > 0 else ""
        if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits):
            raise fail(r"bad \x{...} escape")
        return re.escape(chr(int(digits, 16))), end + 1
    return source[i : i + 2], i + 2


def _char_class(source: str, i: int, fail: Callable[[str], ValueError]) -> tuple[str, int]:
    """Copy a character class ``[...]``; Java's nested classes and ``&&`` are refused."""
    out = ["["]
    j = i + 1
    if source.startswith("^", j):
        out.append("^")
        j += 1
    if source.startswith("]", j):
        out.append(r"\]")
        j += 1
    while j < len(source):
        char = source[j]
        if char == "\\":
            text, j = _escape(source, j, in_class=True, fail=fail)
            out.append(text)
            continue
        if char == "]":
            out.append("]")
            return "".join(out), j + 1
        if char == "[":
            raise fail("nested character classes (Java class union) are not supported")
        if source.startswith("&&", j):
            raise fail("character class intersection '&&' is not supported")
        out.append(char)
        j += 1
    raise fail("unterminated character class")


def compile_java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Java/Okta regex as Python; ValueError says what is wrong with it."""
    python, flags = translate_java_regex(pattern)
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
