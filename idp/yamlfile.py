"""YAML files that remember where each value came from, and pydantic errors as ``file:line: ...``.

Admins edit these files by hand, so every mistake must point at a line: syntax errors, duplicate
keys (which PyYAML silently accepts, keeping the last one) and schema errors alike.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from idp.errors import IdpError

M = TypeVar("M", bound=BaseModel)

LocPath = Sequence[Hashable]
"""A location in a YAML document: mapping keys and sequence indexes from the root."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_NESTING = 100
"""Deepest nesting of mappings and lists a file may have (real files stay under 20 levels).

PyYAML's pure-Python composer recurses once per level, and so does code that walks the data, so a
file like ``name: [[[…]]]`` a thousand levels deep would end in a RecursionError; it is refused
first with its line.
"""
_PLAIN_KEY = re.compile(r"[\w-]+")


class ConfigError(IdpError):
    """A configuration file cannot be read or is wrong; ``str()`` is ``file:line: message``."""

    code = "config_error"

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path = Path(path)
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class UnreadableFileError(ConfigError):
    """The file cannot be opened or is not UTF-8 text."""

    code = "unreadable_file"


class YamlSyntaxError(ConfigError):
    """The file is not well-formed YAML."""

    code = "yaml_syntax"


class DuplicateKeyError(ConfigError):
    """A mapping names the same key twice."""

    code = "duplicate_key"


class NestingTooDeepError(ConfigError):
    """Mappings and lists nest deeper than MAX_NESTING levels."""

    code = "nesting_too_deep"

    def __init__(self, path: Path | str, line: int | None) -> None:
        super().__init__(path, line, f"nesting too deep (more than {MAX_NESTING} levels)")


class SchemaError(ConfigError):
    """The YAML is well-formed but does not fit the expected schema."""

    code = "schema"


@dataclass(eq=False)
class _Marks:
    """Lines of one YAML node and of its children (keys or items), 1-based."""

    line: int
    children: dict[Hashable, tuple[int, _Marks]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedYaml:
    """A parsed YAML file: plain data plus the line of every key and item."""

    path: Path
    data: Any
    _marks: _Marks | None = field(default=None, repr=False, compare=False)

    def locate(self, loc: LocPath) -> tuple[tuple[Hashable, ...], int | None]:
        """Return the longest prefix of ``loc`` present in the file and its line."""
        marks = self._marks
        if marks is None:
            return (), None
        found: list[Hashable] = []
        line: int | None = marks.line
        for element in loc:
            try:
                child = marks.children.get(element)
            except TypeError:
                child = None
            if child is None:
                break
            line, marks = child
            found.append(element)
        return tuple(found), line

    def line_of(self, loc: LocPath) -> int | None:
        """Return the line of ``loc``, or of its deepest part present in the file."""
        return self.locate(loc)[1]

    def has(self, loc: LocPath) -> bool:
        """Tell whether every part of ``loc`` is present in the file."""
        return len(self.locate(loc)[0]) == len(loc) and self._marks is not None

    def at(self, loc: LocPath) -> Any:
        """Return the data at ``loc``; a missing part raises SchemaError at the nearest line."""
        current = self.data
        for depth, element in enumerate(loc):
            if not _contains(current, element):
                where = format_location(self.data, loc[: depth + 1])
                raise SchemaError(self.path, self.line_of(loc), f"{where}: missing")
            current = current[element]
        return current


def load_yaml(path: Path) -> LoadedYaml:
    """Read one YAML document from ``path``, keeping lines; refuse duplicate keys.

    libyaml's C parser reads it when PyYAML has it (several times faster on large directories);
    a file it refuses is parsed again in Python, whose error messages say more.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnreadableFileError(
            path, line, f"cannot read: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        ) from None
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _parse(path, text, fast)
        except (YamlSyntaxError, yaml.YAMLError):
            pass  # libyaml's messages are terser (and it stops at 1000 levels): parse again
    return _parse(path, text, _DepthLimitedLoader)


class _TooDeep(Exception):
    """Raised inside the composer at the first node nested deeper than MAX_NESTING."""

    def __init__(self, node_line: int | None) -> None:
        super().__init__(node_line)
        self.line = node_line


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's Python loader, stopping before its composer recurses past MAX_NESTING levels."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_NESTING:
            event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # stubs
            raise _TooDeep(event.start_mark.line + 1 if event.start_mark else None)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _parse(path: Path, text: str, loader_class: type[yaml.SafeLoader]) -> LoadedYaml:
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlSyntaxError(path, line, f"invalid YAML: {_reader_problem(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml(path=path, data=None)
        _refuse_deep_nesting(node, path)
        _refuse_duplicate_keys(loader, node, path)
        data = loader.construct_document(node)
        marks = _marks_of(loader, node)
    except _TooDeep as exc:
        raise NestingTooDeepError(path, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return LoadedYaml(path=path, data=data, _marks=marks)


def validate(model: type[M], loaded: LoadedYaml, *, at: LocPath = ()) -> M:
    """Validate the data at ``at`` with ``model``; the first problem raises SchemaError."""
    data = loaded.at(at)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, loaded, at=at, model=model) from None


def format_validation_error(
    error: ValidationError,
    loaded: LoadedYaml,
    *,
    at: LocPath = (),
    model: type[BaseModel] | None = None,
) -> SchemaError:
    """Turn ``error`` (from validating the sub-tree at ``at``) into a SchemaError at its line.

    The first error is reported; errors at the same place (the branches of a union) are merged,
    and the others are counted.  ``model``, when given, lets unknown fields get suggestions.
    A misspelt key (``actions:``) is both an unknown field and a missing one (``action``), and
    pydantic lists the missing one first: the unknown field is reported instead (it names the
    mistake and suggests the fix), and the missing field it stands for is not counted again.
    """
    details = error.errors(include_url=False)
    if not details:
        return SchemaError(loaded.path, loaded.line_of(at), str(error))
    subtree = loaded.at(at)
    grouped: dict[tuple[Hashable, ...], list[ErrorDetails]] = {}
    for detail in details:
        grouped.setdefault(_data_loc(subtree, detail), []).append(detail)
    first_loc, first_group = _most_useful(grouped)
    explained = _missing_explained_by(first_loc, grouped)
    for loc in explained:
        del grouped[loc]
    first = first_group[0]
    full_loc = (*at, *first_loc)
    line = loaded.line_of(full_loc)
    if first["type"] == "missing":
        where = format_location(loaded.data, full_loc[:-1])
        message = f"missing required field {str(first_loc[-1])!r}"
    elif first["type"] == "extra_forbidden":
        where = format_location(loaded.data, full_loc[:-1])
        message = _unknown_field_message(first, model)
    else:
        where = format_location(loaded.data, full_loc)
        message = _merged_message(first_group, model)
    others = len(grouped) - 1
    if others:
        message += f" (and {others} more error{'s' if others > 1 else ''})"
    return SchemaError(loaded.path, line, f"{where}: {message}" if where else message)


def _kind(group: list[ErrorDetails]) -> str:
    return group[0]["type"]


def _most_useful(
    grouped: dict[tuple[Hashable, ...], list[ErrorDetails]],
) -> tuple[tuple[Hashable, ...], list[ErrorDetails]]:
    """Return the first error, or, when it is a missing field, a misspelling of it beside it."""
    first_loc, first_group = next(iter(grouped.items()))
    if _kind(first_group) != "missing":
        return first_loc, first_group
    for loc, group in grouped.items():
        if (
            loc[:-1] == first_loc[:-1]
            and _kind(group) == "extra_forbidden"
            and difflib.get_close_matches(str(loc[-1]), [str(first_loc[-1])])
        ):
            return loc, group
    return first_loc, first_group


def _missing_explained_by(
    unknown_loc: tuple[Hashable, ...], grouped: dict[tuple[Hashable, ...], list[ErrorDetails]]
) -> list[tuple[Hashable, ...]]:
    """Return the missing fields beside the unknown field ``unknown_loc`` whose names it is
    close to (``action`` beside ``actions``): one misspelling, not two errors."""
    if not unknown_loc or _kind(grouped[unknown_loc]) != "extra_forbidden":
        return []
    missing = {
        str(loc[-1]): loc
        for loc, group in grouped.items()
        if loc[:-1] == unknown_loc[:-1] and _kind(group) == "missing"
    }
    close = difflib.get_close_matches(str(unknown_loc[-1]), list(missing), n=1)
    return [missing[name] for name in close]


def format_location(data: Any, loc: LocPath) -> str:
    """Spell ``loc`` the way an admin reads it: ``directory.users.alice.groups[2]``."""
    parts: list[str] = []
    current = data
    for element in loc:
        if isinstance(current, list) and isinstance(element, int):
            parts.append(f"[{element}]")
        else:
            text = str(element)
            if not (isinstance(element, str) and _PLAIN_KEY.fullmatch(element)):
                text = '"' + text.replace('"', '\\"') + '"' if isinstance(element, str) else text
            parts.append(f".{text}" if parts else text)
        current = current[element] if _contains(current, element) else None
    return "".join(parts)


def _contains(container: Any, element: Hashable) -> bool:
    if isinstance(container, Mapping):
        try:
            return element in container
        except TypeError:
            return False
    if isinstance(container, list) and isinstance(element, int) and not isinstance(element, bool):
        return 0 <= element < len(container)
    return False


def _data_loc(data: Any, detail: ErrorDetails) -> tuple[Hashable, ...]:
    """Keep the parts of a pydantic location that exist in the data (dropping union tags)."""
    loc = detail["loc"]
    found: list[Hashable] = []
    current = data
    for depth, element in enumerate(loc):
        if _contains(current, element):
            found.append(element)
            current = current[element]
        elif depth == len(loc) - 1 and detail["type"] in ("missing", "extra_forbidden"):
            found.append(element)
    return tuple(found)


def _merged_message(group: list[ErrorDetails], model: type[BaseModel] | None) -> str:
    messages: list[str] = []
    for detail in group:
        message = _message(detail, model)
        if message not in messages:
            messages.append(message)
    prefix = "Input should be "
    if len(messages) > 1 and all(m.startswith(prefix) for m in messages):
        return prefix + " or ".join(m[len(prefix) :] for m in messages)
    return "; ".join(messages)


def _message(detail: ErrorDetails, model: type[BaseModel] | None) -> str:
    kind = detail["type"]
    loc = detail["loc"]
    given = detail.get("input")
    if kind in ("literal_error", "enum"):
        choices = _choices_at(model, loc) if model is not None else None
        if choices is None:
            expected = str(detail.get("ctx", {}).get("expected", ""))
            choices = re.findall(r"'((?:[^'\\]|\\.)*)'", expected) or [expected]
        return f"must be one of {', '.join(choices)} (got {given!r})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not loc and given is None:
            return "the document is empty; expected a mapping (key: value)"
        return f"Input should be a mapping (key: value), not {_yaml_type(given)}"
    message = detail["msg"]
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if loc and loc[-1] == "[key]":
        return f"invalid key {given!r}: {message}"
    return message


def _unknown_field_message(detail: ErrorDetails, model: type[BaseModel] | None) -> str:
    name = str(detail["loc"][-1])
    allowed = _fields_at(model, detail["loc"][:-1]) if model is not None else None
    message = f"unknown field {name!r}"
    if allowed:
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            return f"{message}; did you mean {close[0]!r}?"
        return f"{message} (allowed: {', '.join(allowed)})"
    return message


def _yaml_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    target = _annotation_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [_field_key(name, info.alias) for name, info in target.model_fields.items()]
    return None


def _choices_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    target = _annotation_at(model, loc)
    if get_origin(target) is Literal:
        return [str(value) for value in get_args(target)]
    if isinstance(target, type) and issubclass(target, Enum):
        return [str(member.value) for member in target]
    return None


def _field_key(name: str, alias: str | None) -> str:
    return alias if alias is not None else name


def _annotation_at(model: type[BaseModel], loc: Sequence[int | str]) -> Any:
    """Follow ``loc`` through the model's type annotations; None when it cannot be followed."""
    current: Any = model
    for element in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {_field_key(n, i.alias): i for n, i in current.model_fields.items()}
            if element not in fields:
                return None
            current = fields[str(element)].annotation
            continue
        origin, args = get_origin(current), get_args(current)
        if origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        elif origin in (list, tuple, set, frozenset, Sequence) and args:
            current = args[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] around a single type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _walk(node: yaml.Node) -> Iterator[yaml.Node]:
    """Yield every node reachable from ``node`` once, aliases included."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                stack.extend((value_node, key_node))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refuse_deep_nesting(root: yaml.Node, path: Path) -> None:
    """Refuse data nested deeper than MAX_NESTING levels, counting what aliases bring in.

    A scalar has height 0, a mapping or list one more than its tallest child; an alias back to
    one of its own ancestors (a recursive structure) adds nothing. The error names the first
    node, in file order, that sits one level too deep.
    """
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            on_path.discard(id(node))
            children = _children(node)
            height[id(node)] = 1 + max((height.get(id(c), 0) for c in children), default=0)
            continue
        if id(node) in height or id(node) in on_path or isinstance(node, yaml.ScalarNode):
            height.setdefault(id(node), 0)
            continue
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    if height[id(root)] <= MAX_NESTING:
        return
    node, depth = root, 1
    while depth <= MAX_NESTING:
        needed = MAX_NESTING + 1 - depth
        node = next(c for c in _children(node) if height.get(id(c), 0) >= needed)
        depth += 1
    raise NestingTooDeepError(path, node.start_mark.line + 1)


def _key_of(loader: yaml.SafeLoader, key_node: yaml.Node) -> Hashable | None:
    if not isinstance(key_node, yaml.ScalarNode):
        return None
    key = loader.construct_object(key_node)
    try:
        hash(key)
    except TypeError:
        return None
    return typing.cast(Hashable, key)


def _refuse_duplicate_keys(loader: yaml.SafeLoader, root: yaml.Node, path: Path) -> None:
    for node in _walk(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = _key_of(loader, key_node)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise DuplicateKeyError(
                    path, line, f"duplicate key {key!r} (first defined on line {first_line[key]})"
                )
            first_line[key] = line


def _marks_of(loader: yaml.SafeLoader, root: yaml.Node) -> _Marks:
    """Record lines for every node; shared (aliased) nodes share one record."""
    built: dict[int, _Marks] = {}
    for node in _walk(root):
        built[id(node)] = _Marks(line=node.start_mark.line + 1)
    for node in _walk(root):
        marks = built[id(node)]
        if isinstance(node, yaml.MappingNode):
            # After construction the merge keys (<<) are flattened in front, so explicit keys,
            # which come later, win, exactly as in the data.
            for key_node, value_node in node.value:
                key = _key_of(loader, key_node)
                if key is not None:
                    marks.children[key] = (key_node.start_mark.line + 1, built[id(value_node)])
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                marks.children[index] = (item.start_mark.line + 1, built[id(item)])
    return built[id(root)]


def _syntax_error(exc: yaml.MarkedYAMLError, path: Path) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = (exc.problem or exc.context or "not valid YAML").removeprefix("but ")
    if exc.context and exc.problem and exc.context_mark is not None:
        context_line = exc.context_mark.line + 1
        where = f" on line {context_line}" if context_line != line else ""
        problem = f"{problem} ({exc.context}{where})"
    hint = _syntax_hint(exc.problem or "")
    return YamlSyntaxError(path, line, f"invalid YAML: {problem}" + (f"; {hint}" if hint else ""))


_INDENTATION_HINT = "check the indentation of this line and the one above"
_SYNTAX_HINTS = (
    (
        "expected <block end>",
        f"{_INDENTATION_HINT} (the keys of one mapping, and the items of one list, start in "
        "the same column)",
    ),
    ("expected '<document start>'", f"{_INDENTATION_HINT} (top-level keys start in column 1)"),
    ("mapping values are not allowed here", f"{_INDENTATION_HINT}, or quote a value with ': '"),
    (
        "could not find expected ':'",
        f"{_INDENTATION_HINT} (a key needs ':' after it, a list item '- ' before it)",
    ),
    ("found character '\\t' that cannot start any token", "indent with spaces, not tabs"),
)
"""PyYAML's problems that an indentation mistake causes, and what to tell the admin."""


def _syntax_hint(problem: str) -> str | None:
    return next((hint for start, hint in _SYNTAX_HINTS if problem.startswith(start)), None)


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, int):
        return f"{exc.reason} (character #x{exc.character:04x})"
    return str(exc.reason)
