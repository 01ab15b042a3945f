"""Directory files: the user directory read from YAML, CSV or LDIF, chosen by extension.

Every error names the file and line (:class:`~idp.directory.DirectoryFileError`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from idp.directory import (
    Directory,
    DirectoryConfig,
    DirectoryFileError,
    DuplicateNameError,
    Group,
    UnreadableDirectoryFileError,
    UnsupportedDirectoryFileError,
    User,
)
from idp.yamlfile import ConfigError, load_yaml, validate


def load_directory_file(path: Path) -> Directory:
    """Load a directory file, choosing the format from the extension."""
    loaders = {
        ".csv": load_csv,
        ".ldif": load_ldif,
        ".ldf": load_ldif,
        ".yaml": load_yaml_directory,
        ".yml": load_yaml_directory,
    }
    loader = loaders.get(path.suffix.lower())
    if loader is None:
        raise UnsupportedDirectoryFileError(
            f"unsupported directory file type {path.suffix or '(none)'!r} "
            "(use .csv, .ldif, .yaml or .yml)",
            path=path,
        )
    return loader(path)


def load_yaml_directory(path: Path) -> Directory:
    """Load a YAML file shaped like ``DirectoryConfig`` (users, groups)."""
    try:
        loaded = load_yaml(path)
        config = validate(DirectoryConfig, loaded)
    except ConfigError as exc:
        raise DirectoryFileError(exc.message, path=path, line=exc.line) from exc
    if config.file is not None:
        raise DirectoryFileError(
            "a directory file cannot name another file", path=path, line=loaded.line_of(("file",))
        )
    return Directory.from_config(config, path.parent)


_CSV_FIELDS = (
    "name",
    "email",
    "upn",
    "display_name",
    "given_name",
    "surname",
    "name_id",
    "password",
    "groups",
)


def load_csv(path: Path) -> Directory:
    """Load users from CSV: a header row; ``groups`` split on ';'; other columns are attributes."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    header: list[str] | None = None
    users: dict[str, User] = {}
    first_line: dict[str, int] = {}
    line = 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _csv_header(cells, path, start)
                continue
            if len(cells) != len(header):
                raise DirectoryFileError(
                    f"row has {len(cells)} fields but the header has {len(header)}",
                    path=path,
                    line=start,
                )
            record = dict(zip(header, (cell.strip() for cell in cells), strict=True))
            user = _csv_user(record, path, start)
            if user.name in users:
                raise DuplicateNameError(
                    f"duplicate user {user.name!r} (first on line {first_line[user.name]})",
                    path=path,
                    line=start,
                )
            users[user.name], first_line[user.name] = user, start
    except csv.Error as exc:
        raise DirectoryFileError(f"malformed CSV: {exc}", path=path, line=line + 1) from None
    if header is None:
        raise DirectoryFileError("no header row (expected at least a 'name' column)", path=path)
    return Directory(users.values())


def _csv_header(cells: list[str], path: Path, line: int) -> list[str]:
    header: list[str] = []
    for column, cell in enumerate(cells, start=1):
        name = cell.strip()
        if name.lower() in _CSV_FIELDS:
            name = name.lower()
        if not name:
            raise DirectoryFileError(f"column {column} has no name", path=path, line=line)
        if name in header:
            raise DirectoryFileError(f"duplicate column {name!r}", path=path, line=line)
        header.append(name)
    if "name" not in header:
        raise DirectoryFileError(
            f"missing column 'name' (columns: {', '.join(header)})", path=path, line=line
        )
    return header


def _csv_user(record: dict[str, str], path: Path, line: int) -> User:
    if not record["name"]:
        raise DirectoryFileError("row has no name", path=path, line=line)
    groups = tuple(g.strip() for g in record.get("groups", "").split(";") if g.strip())
    return User(
        name=record["name"],
        email=record.get("email") or None,
        upn=record.get("upn") or None,
        display_name=record.get("display_name") or None,
        given_name=record.get("given_name") or None,
        surname=record.get("surname") or None,
        name_id=record.get("name_id") or None,
        password=record.get("password") or None,
        direct_groups=groups,
        attributes={k: (v,) for k, v in record.items() if k not in _CSV_FIELDS and v},
    )


# --- LDIF ----------------------------------------------------------------------------------------

_USER_CLASSES = frozenset(
    {"inetorgperson", "organizationalperson", "person", "user", "posixaccount"}
)
_GROUP_CLASSES = frozenset({"groupofnames", "groupofuniquenames", "group", "posixgroup"})
_USER_FIELDS = {
    "mail": "email",
    "userprincipalname": "upn",
    "displayname": "display_name",
    "givenname": "given_name",
    "sn": "surname",
}
_DROPPED = frozenset({"objectclass", "memberof", "userpassword", "unicodepwd"})
_ATTRIBUTE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*")


_DnKey = tuple[tuple[str, str], ...]


@dataclass
class _Entry:
    """One LDIF content record; attribute types are keyed in lower case, options dropped."""

    dn: str
    line: int
    values: dict[str, list[tuple[str | bytes, int]]] = field(default_factory=dict)
    spelling: dict[str, str] = field(default_factory=dict)

    def first(self, attribute: str) -> str | None:
        """Return the first text value of ``attribute``."""
        return next(iter(self.texts(attribute)), None)

    def texts(self, attribute: str) -> list[str]:
        """Return the text values of ``attribute``."""
        return [text for text, _ in self.texts_with_lines(attribute)]

    def texts_with_lines(self, attribute: str) -> list[tuple[str, int]]:
        """Return the text values of ``attribute`` with the line of each."""
        return [(v, n) for v, n in self.values.get(attribute, ()) if isinstance(v, str)]

    def kind(self) -> str | None:
        """Return "group", "user" or None from the objectClass values."""
        classes = {c.lower() for c in self.texts("objectclass")}
        if classes & _GROUP_CLASSES:
            return "group"
        if classes & _USER_CLASSES and "computer" not in classes:
            return "user"
        return None


def load_ldif(path: Path) -> Directory:
    """Load users (inetOrgPerson, AD user) and groups (groupOfNames, AD group) from LDIF.

    Users are named by ``uid``, else ``sAMAccountName``; groups by ``cn``.  Membership comes from
    the groups' ``member``/``uniqueMember``/``memberUid`` and from ``memberOf`` on users and groups;
    a member DN that is not in the file is ignored, a ``memberOf`` DN outside it names a group
    by its first RDN value.
    """
    by_dn: dict[_DnKey, tuple[str, str, _Entry]] = {}
    named: dict[str, dict[str, _Entry]] = {"user": {}, "group": {}}
    for entry in _ldif_entries(_read_text(path), path):
        key = _dn_key(entry.dn, path, entry.line)
        if key in by_dn:
            raise DuplicateNameError(
                f"duplicate entry {entry.dn!r} (first on line {by_dn[key][2].line})",
                path=path,
                line=entry.line,
            )
        kind = entry.kind()
        if kind is None:
            continue
        name = (
            entry.first("cn")
            if kind == "group"
            else (entry.first("uid") or entry.first("samaccountname"))
        )
        if name is None:
            needed = "cn" if kind == "group" else "uid or sAMAccountName"
            raise DirectoryFileError(
                f"{kind} entry {entry.dn!r} has no {needed}", path=path, line=entry.line
            )
        if name in named[kind]:
            raise DuplicateNameError(
                f"duplicate {kind} {name!r} (first on line {named[kind][name].line})",
                path=path,
                line=entry.line,
            )
        named[kind][name] = entry
        by_dn[key] = (kind, name, entry)

    parents: dict[str, dict[str, list[str]]] = {
        kind: {name: _member_of(entry, by_dn, path) for name, entry in entries.items()}
        for kind, entries in named.items()
    }
    for group, entry in named["group"].items():
        for dn, line in entry.texts_with_lines("member") + entry.texts_with_lines("uniquemember"):
            member = by_dn.get(_dn_key(dn, path, line))
            if member is not None:
                parents[member[0]][member[1]].append(group)
        for uid in entry.texts("memberuid"):
            if uid in parents["user"]:
                parents["user"][uid].append(group)

    users = [
        _ldif_user(name, entry, parents["user"][name]) for name, entry in named["user"].items()
    ]
    groups = [
        Group(
            name=name,
            member_of=tuple(dict.fromkeys(parents["group"][name])),
            description=entry.first("description"),
            sid=_sid(entry),
            dn=entry.dn,
        )
        for name, entry in named["group"].items()
    ]
    return Directory(users, groups)


def _member_of(
    entry: _Entry, by_dn: Mapping[_DnKey, tuple[str, str, _Entry]], path: Path
) -> list[str]:
    groups: list[str] = []
    for dn, line in entry.texts_with_lines("memberof"):
        known = by_dn.get(_dn_key(dn, path, line))
        if known is None:
            groups.append(_dn_rdns(dn, path, line)[0][1])
        elif known[0] == "group":
            groups.append(known[1])
    return groups


def _ldif_user(name: str, entry: _Entry, groups: list[str]) -> User:
    fields = {field_name: entry.first(attribute) for attribute, field_name in _USER_FIELDS.items()}
    naming = "uid" if entry.first("uid") else "samaccountname"
    attributes: dict[str, tuple[str, ...]] = {}
    for attribute in entry.values:
        if attribute in _DROPPED or attribute in _USER_FIELDS or attribute == naming:
            continue
        if attribute == "objectsid":
            sid = _sid(entry)
            texts = [sid] if sid else []
        else:
            texts = entry.texts(attribute)
        if texts:
            attributes[entry.spelling[attribute]] = tuple(texts)
    return User(
        name=name,
        direct_groups=tuple(groups),
        attributes=attributes,
        email=fields["email"],
        upn=fields["upn"],
        display_name=fields["display_name"],
        given_name=fields["given_name"],
        surname=fields["surname"],
    )


def _sid(entry: _Entry) -> str | None:
    """Return ``objectSid`` as ``S-1-5-…``, decoding the binary form AD exports."""
    for value, _ in entry.values.get("objectsid", ()):
        if isinstance(value, str):
            return value if value.startswith("S-") else None
        if len(value) >= 8 and len(value) == 8 + 4 * value[1]:
            authority = int.from_bytes(value[2:8], "big")
            subs = [int.from_bytes(value[i : i + 4], "little") for i in range(8, len(value), 4)]
            return "-".join(["S", str(value[0]), str(authority), *map(str, subs)])
    return None


def _ldif_entries(text: str, path: Path) -> list[_Entry]:
    """Split LDIF into content records, unfolding continuation lines and skipping comments."""
    records: list[list[tuple[int, str]]] = [[]]
    in_comment = False
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if line.startswith(" "):
            if in_comment:
                continue
            if not records[-1]:
                raise DirectoryFileError(
                    "continuation line with nothing to continue", path=path, line=number
                )
            start, content = records[-1][-1]
            records[-1][-1] = (start, content + line[1:])
        elif not line:
            in_comment = False
            if records[-1]:
                records.append([])
        elif line.startswith("#"):
            in_comment = True
        else:
            in_comment = False
            records[-1].append((number, line))
    entries: list[_Entry] = []
    for index, record in enumerate(records):
        if index == 0 and record and record[0][1].lower().startswith("version:"):
            record = record[1:]
        if record:
            entries.append(_ldif_entry(record, path))
    return entries


def _ldif_entry(record: list[tuple[int, str]], path: Path) -> _Entry:
    (first_line, first), rest = record[0], record[1:]
    attribute, dn = _ldif_line(first, path, first_line)
    if attribute.lower() != "dn":
        raise DirectoryFileError(
            f"an entry must start with 'dn:', not {attribute!r}", path=path, line=first_line
        )
    if isinstance(dn, bytes):
        raise DirectoryFileError(
            f"{attribute}:: the base64 value is not UTF-8 text (a DN is UTF-8, RFC 4514)",
            path=path,
            line=first_line,
        )
    entry = _Entry(dn=dn, line=first_line)
    for number, content in rest:
        attribute, value = _ldif_line(content, path, number)
        kind = attribute.lower()
        if kind in ("changetype", "control"):
            raise DirectoryFileError(
                f"change records ({attribute}:) are not supported; export entries as content",
                path=path,
                line=number,
            )
        if kind == "dn":
            raise DirectoryFileError(
                "a second 'dn:' in one entry (missing blank line?)", path=path, line=number
            )
        entry.values.setdefault(kind, []).append((value, number))
        entry.spelling.setdefault(kind, attribute)
    return entry


def _ldif_line(content: str, path: Path, number: int) -> tuple[str, str | bytes]:
    """Split ``type: value`` / ``type:: base64``; options such as ``;lang-en`` are dropped."""
    attribute, colon, rest = content.partition(":")
    attribute = attribute.split(";", 1)[0].strip()
    if not colon or not _ATTRIBUTE_TYPE.fullmatch(attribute):
        raise DirectoryFileError(
            f"expected 'attribute: value', got {content[:60]!r}", path=path, line=number
        )
    if rest.startswith(":"):
        try:
            raw = base64.b64decode(rest[1:].strip(), validate=True)
        except binascii.Error:
            raise DirectoryFileError(
                f"{attribute}: invalid base64 value", path=path, line=number
            ) from None
        try:
            return attribute, raw.decode("utf-8")
        except UnicodeDecodeError:
            return attribute, raw
    if rest.startswith("<"):
        raise DirectoryFileError(
            f"{attribute}: URL values (':<') are not supported", path=path, line=number
        )
    return attribute, rest.lstrip(" ")


def _dn_rdns(dn: str, path: Path, line: int) -> list[tuple[str, str]]:
    """Split a DN into (type, value) pairs, undoing ``\\,`` and ``\\2C`` escapes."""
    parts: list[tuple[str, str]] = []
    name, value, in_value = "", bytearray(), False
    position = 0
    while position <= len(dn):
        char = dn[position] if position < len(dn) else ","
        if char == "\\" and position + 1 < len(dn):
            pair = dn[position + 1 : position + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                value.append(int(pair, 16))
                position += 3
            else:
                value += dn[position + 1].encode()
                position += 2
            continue
        if char == "," or (char == "+" and in_value):
            if not in_value or not name.strip():
                raise DirectoryFileError(f"invalid DN {dn!r}", path=path, line=line)
            parts.append((name.strip().lower(), value.decode("utf-8", "replace").strip()))
            name, value, in_value = "", bytearray(), False
        elif char == "=" and not in_value:
            in_value = True
        elif in_value:
            value += char.encode()
        else:
            name += char
        position += 1
    return parts


def _dn_key(dn: str, path: Path, line: int) -> _DnKey:
    return tuple((kind, value.lower()) for kind, value in _dn_rdns(dn, path, line))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableDirectoryFileError(
            f"cannot read: {exc.strerror or exc}", path=path
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDirectoryFileError(
            f"cannot read: not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            path=path,
            line=raw[: exc.start].count(b"\n") + 1,
        ) from None
