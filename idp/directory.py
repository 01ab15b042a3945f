"""The mock IdP's user directory: users, nested groups and attributes, from YAML, CSV or LDIF.

Groups nest (a group can be a member of other groups), and a user is in every group reachable
from their direct groups, as with Active Directory's ``tokenGroups``.  A group that is named but
never declared exists implicitly, with no parents. The files are read by
:mod:`idp.directory_files`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idp.errors import IdpError

if TYPE_CHECKING:
    from idp.directory_files import load_csv as load_csv
    from idp.directory_files import load_directory_file as load_directory_file
    from idp.directory_files import load_ldif as load_ldif
    from idp.directory_files import load_yaml_directory as load_yaml_directory


class DirectoryError(IdpError):
    """Root of the directory's errors; ``str()`` is ``file:line: message`` when from a file."""

    code = "directory"

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class UnknownUserError(DirectoryError):
    """No user has that name; ``suggestions`` holds close matches."""

    code = "unknown_user"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.suggestions = tuple(difflib.get_close_matches(name, list(known), n=3))
        super().__init__(f"unknown user {name!r}" + _hint(self.suggestions, known))


class UnknownGroupError(DirectoryError):
    """No group has that name, declared or referenced; ``suggestions`` holds close matches."""

    code = "unknown_group"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.suggestions = tuple(difflib.get_close_matches(name, list(known), n=3))
        super().__init__(f"unknown group {name!r}" + _hint(self.suggestions, known))


class DuplicateNameError(DirectoryError):
    """Two users, two groups or two LDIF entries share a name."""

    code = "duplicate_name"


class DirectoryFileError(DirectoryError):
    """A directory file is malformed; the message names the line."""

    code = "directory_file"


class UnreadableDirectoryFileError(DirectoryFileError):
    """A directory file cannot be opened or is not UTF-8 text."""

    code = "unreadable_directory_file"


class UnsupportedDirectoryFileError(DirectoryFileError):
    """A directory file's extension is not one of .csv, .ldif, .yaml or .yml."""

    code = "unsupported_directory_file"


def _hint(suggestions: tuple[str, ...], known: Iterable[str]) -> str:
    if suggestions:
        return "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
    names = list(known)
    if not names:
        return " (the directory is empty)"
    if len(names) <= 10:
        return f" (known: {', '.join(names)})"
    return f" ({len(names)} are known)"


# --- configuration (validated by pydantic, published as JSON Schema) ---------------------------


class UserConfig(BaseModel):
    """A user: identity fields, direct groups and extra attributes."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    email: str | None = Field(None, description="Email address (mail).")
    upn: str | None = Field(None, description="userPrincipalName, e.g. alice@corp.example.")
    display_name: str | None = Field(None, description="Full name as displayed.")
    given_name: str | None = Field(None, description="First name (givenName).")
    surname: str | None = Field(None, description="Last name (sn).")
    name_id: str | None = Field(None, description="Explicit NameID value for this user.")
    password: str | None = Field(None, description="Password for the login page (test only).")
    groups: list[str] = Field(default_factory=list, description="Direct groups, in order.")
    attributes: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Other attributes: name → value or list of values."
    )

    def to_user(self, name: str) -> User:
        """Return the runtime user called ``name``."""
        return User(
            name=name,
            email=self.email,
            upn=self.upn,
            display_name=self.display_name,
            given_name=self.given_name,
            surname=self.surname,
            name_id=self.name_id,
            password=self.password,
            direct_groups=tuple(self.groups),
            attributes={k: _as_values(v) for k, v in self.attributes.items()},
        )


class GroupConfig(BaseModel):
    """A group and the groups it is itself a member of."""

    model_config = ConfigDict(extra="forbid")

    member_of: list[str] = Field(
        default_factory=list, description="Parent groups: members of this group are in them too."
    )
    description: str | None = Field(None, description="What the group is for.")
    sid: str | None = Field(
        None, pattern=r"^S-1-\d+(-\d+)*$", description="Security identifier, e.g. S-1-5-21-…-1104."
    )

    def to_group(self, name: str) -> Group:
        """Return the runtime group called ``name``."""
        return Group(
            name=name, member_of=tuple(self.member_of), description=self.description, sid=self.sid
        )


class DirectoryConfig(BaseModel):
    """Users and groups, inline and/or from a CSV, LDIF or YAML file."""

    model_config = ConfigDict(extra="forbid")

    file: Path | None = Field(
        None,
        description="CSV, LDIF or YAML directory file, relative to this file; "
        "inline users and groups replace its entries of the same name.",
    )
    users: dict[str, UserConfig] = Field(default_factory=dict, description="Users by name.")
    groups: dict[str, GroupConfig] = Field(default_factory=dict, description="Groups by name.")

    @field_validator("users", "groups", mode="before")
    @classmethod
    def _empty_entries_allowed(cls, value: object) -> object:
        """Let ``users:`` or ``Engineering:`` with nothing after them mean "empty"."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return {key: {} if entry is None else entry for key, entry in value.items()}
        return value


# --- runtime model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A directory user as the IdP sees it."""

    name: str
    email: str | None = None
    upn: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    name_id: str | None = None
    password: str | None = field(default=None, repr=False)
    direct_groups: tuple[str, ...] = ()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "direct_groups", tuple(dict.fromkeys(self.direct_groups)))
        values = {name: _as_values(v) for name, v in self.attributes.items()}
        object.__setattr__(self, "attributes", MappingProxyType(values))


@dataclass(frozen=True)
class Group:
    """A group; ``declared`` is False for one only named by a user or another group."""

    name: str
    member_of: tuple[str, ...] = ()
    description: str | None = None
    sid: str | None = None
    dn: str | None = None
    declared: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "member_of", tuple(dict.fromkeys(self.member_of)))


def _as_values(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


class Directory:
    """Users and nested groups; never changed in place (``with_user`` returns a new one)."""

    def __init__(self, users: Iterable[User] = (), groups: Iterable[Group] = ()) -> None:
        self._users: dict[str, User] = {}
        for user in users:
            if user.name in self._users:
                raise DuplicateNameError(f"two users are called {user.name!r}")
            self._users[user.name] = user
        self._declared: dict[str, Group] = {}
        for group in groups:
            if group.name in self._declared:
                raise DuplicateNameError(f"two groups are called {group.name!r}")
            self._declared[group.name] = group
        self._groups = dict(self._declared)
        named = [g for u in self._users.values() for g in u.direct_groups]
        named += [p for g in self._declared.values() for p in g.member_of]
        for name in named:
            if name not in self._groups:
                self._groups[name] = Group(name=name, declared=False)
        self._closures: dict[tuple[str, ...], tuple[str, ...]] = {}
        """Direct groups → all groups; users often share direct groups, and nothing changes."""

    def __repr__(self) -> str:
        return f"<Directory: {len(self._users)} users, {len(self._groups)} groups>"

    @classmethod
    def from_config(cls, config: DirectoryConfig, base_dir: Path) -> Directory:
        """Build the directory from ``config``; ``config.file`` is read relative to ``base_dir``."""
        inline = cls(
            users=[entry.to_user(name) for name, entry in config.users.items()],
            groups=[entry.to_group(name) for name, entry in config.groups.items()],
        )
        if config.file is None:
            return inline
        from idp.directory_files import load_directory_file  # it builds Directory objects

        return load_directory_file(base_dir / config.file).overlaid_with(inline)

    def overlaid_with(self, other: Directory) -> Directory:
        """Return this directory with ``other``'s users and groups replacing same-named ones."""
        users = {**self._users, **other._users}
        groups = {**self._declared, **other._declared}
        return Directory(users.values(), groups.values())

    def with_user(self, user: User) -> Directory:
        """Return a copy with ``user`` added, or replacing the user of the same name."""
        users = {**self._users, user.name: user}
        return Directory(users.values(), self._declared.values())

    def user(self, name: str) -> User:
        """Return the user called ``name``, or raise UnknownUserError with suggestions."""
        try:
            return self._users[name]
        except KeyError:
            raise UnknownUserError(name, self._users) from None

    def users(self) -> tuple[User, ...]:
        """Return every user, in the order they were defined."""
        return tuple(self._users.values())

    def group(self, name: str) -> Group:
        """Return the group called ``name``, or raise UnknownGroupError with suggestions."""
        try:
            return self._groups[name]
        except KeyError:
            raise UnknownGroupError(name, self._groups) from None

    def groups(self) -> tuple[Group, ...]:
        """Return every group: declared ones in order, then the implicit ones."""
        return tuple(self._groups.values())

    def direct_groups_of(self, user: User | str) -> tuple[str, ...]:
        """Return the groups ``user`` is directly a member of, in their order."""
        return self._as_user(user).direct_groups

    def groups_of(self, user: User | str) -> tuple[str, ...]:
        """Return all groups of ``user``: direct ones in order, then inherited, nearest first."""
        direct = self._as_user(user).direct_groups
        closure = self._closures.get(direct)
        if closure is None:
            closure = self._closures[direct] = self._closure(direct)
        return closure

    def _closure(self, direct: tuple[str, ...]) -> tuple[str, ...]:
        found = dict.fromkeys(direct)
        queue = list(found)
        for name in queue:
            group = self._groups.get(name)
            for parent in group.member_of if group else ():
                if parent not in found:
                    found[parent] = None
                    queue.append(parent)
        return tuple(found)

    def members_of(self, group: str, *, transitive: bool = True) -> tuple[str, ...]:
        """Return the names of the users in ``group`` (through nested groups if ``transitive``)."""
        self.group(group)
        return tuple(
            user.name
            for user in self._users.values()
            if group in (self.groups_of(user) if transitive else user.direct_groups)
        )

    def cycles(self) -> tuple[tuple[str, ...], ...]:
        """Return each loop in group nesting, e.g. ``("A", "B")`` for A in B and B in A."""
        order = {name: index for index, name in enumerate(self._groups)}
        found: list[tuple[str, ...]] = []
        for start in self._groups:
            found.extend(self._loops_from(start, order))
        return tuple(found)

    def _loops_from(self, start: str, order: dict[str, int]) -> Iterator[tuple[str, ...]]:
        """Yield the simple loops through ``start`` whose other groups come later in ``order``."""
        path = [start]
        pending = [iter(self._groups[start].member_of)]
        while pending:
            parent = next(pending[-1], None)
            if parent is None:
                pending.pop()
                path.pop()
            elif parent == start:
                yield tuple(path)
            elif order[parent] > order[start] and parent not in path:
                path.append(parent)
                pending.append(iter(self._groups[parent].member_of))

    def _as_user(self, user: User | str) -> User:
        return self.user(user) if isinstance(user, str) else user


_FILE_LOADERS = frozenset({"load_csv", "load_directory_file", "load_ldif", "load_yaml_directory"})


def __getattr__(name: str) -> object:
    """Re-export the file loaders of :mod:`idp.directory_files`, imported on first use.

    They build :class:`Directory` objects, so importing them at the top would be circular.
    """
    if name in _FILE_LOADERS:
        from idp import directory_files

        return getattr(directory_files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
