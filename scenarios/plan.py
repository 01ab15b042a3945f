"""The user × role matrix of a scenario, from the mapping alone (no signing, no STS), and its diff
against a golden file, so that a change to groups or mapping rules shows who gains or loses what.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from idp.saml.constants import AwsAttribute
from scenarios.loader import LoadedScenario
from scenarios.runner import offered_pairs

CSV_HEADER = ("user", "role_arn", "provider_arn")
UserRoles = Mapping[str, frozenset[str]]
"""Role ARN → the provider ARNs offered with it (empty when a golden file does not say)."""


class GoldenFileError(Exception):
    """A golden matrix file cannot be read or is not a matrix; ``str()`` names file and line."""

    code = "golden_file"

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RoleMatrix:
    """Which roles each user's assertion offers, and with which provider."""

    scenario: str
    users: Mapping[str, UserRoles]
    """User → role ARN → provider ARNs, users in directory (or file) order."""

    def roles(self) -> tuple[str, ...]:
        """Return every role offered to someone, sorted."""
        return tuple(sorted({role for roles in self.users.values() for role in roles}))

    def providers(self) -> tuple[str, ...]:
        """Return every provider ARN a role is offered with, sorted."""
        return tuple(
            sorted({p for roles in self.users.values() for ps in roles.values() for p in ps})
        )

    def to_document(self) -> dict[str, object]:
        """Return the stable JSON form: users sorted, each with its sorted role ARNs."""
        return {
            "scenario": self.scenario,
            "users": {user: sorted(self.users[user]) for user in sorted(self.users)},
        }

    def to_json(self) -> str:
        """Return the JSON form as text (the format of ``--write``)."""
        return json.dumps(self.to_document(), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        """Return ``user,role_arn,provider_arn`` rows; a user offered nothing has empty cells."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for user in sorted(self.users):
            roles = self.users[user]
            if not roles:
                writer.writerow((user, "", ""))
            for role in sorted(roles):
                for provider in sorted(roles[role]) or [""]:
                    writer.writerow((user, role, provider))
        return out.getvalue()


def compute_matrix(loaded: LoadedScenario) -> RoleMatrix:
    """Map every directory user (mapping only: nothing is signed, STS is not called)."""
    provider = loaded.provider
    users: dict[str, UserRoles] = {}
    for user in loaded.directory.users():
        mapping = provider.map_user(user)
        roles: dict[str, set[str]] = {}
        for role, principal in offered_pairs(mapping.values(AwsAttribute.ROLE)):
            roles.setdefault(role, set()).add(principal)
        users[user.name] = {role: frozenset(ps) for role, ps in roles.items()}
    return RoleMatrix(loaded.name, users)


def short_role(arn: str) -> str:
    """Return ``account:role/Name`` for a role ARN (the ARN itself when it is not one)."""
    parts = arn.split(":", 5)
    return f"{parts[4]}:{parts[5]}" if len(parts) == 6 else arn


def matrix_table(matrix: RoleMatrix) -> MatrixTable:
    """Return the matrix for rich: users as rows, roles as columns, ✓ where the role is offered."""
    return MatrixTable(matrix)


@dataclass(frozen=True)
class MatrixTable:
    """The matrix as rich prints it, headed by the roles' short names when they all fit the width.

    When they do not (13 roles at 80 columns, a CI log's width), the columns are numbered and a
    legend names each number's role, and the columns are split over as many tables as it takes:
    a header cut to ``4…`` would not tell the roles apart. A user name too long to leave the
    numbered columns room wraps in its column first (see ``_user_width``). Outside a terminal, no
    line ends in padding.
    """

    matrix: RoleMatrix

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Yield the title, the table(s), the legend of numbered columns and the providers."""
        from scenarios.report import writes_to_terminal

        roles = self.matrix.roles()
        title = f"{self.matrix.scenario}: roles offered by the IdP (mapping only)"
        terminal = writes_to_terminal(console)
        numbers = [str(number) for number in range(1, len(roles) + 1)]
        user_width = self._user_width(numbers, options.max_width)
        labels = [short_role(role) for role in roles]
        numbered = bool(roles) and self._width(user_width, labels) > options.max_width
        if numbered:
            labels = numbers
        if not terminal:  # a table's title is centred with spaces to its width
            yield Text(title, style="table.title")
            title = ""
        for chunk in self._chunks(user_width, labels, options.max_width):
            yield self._table(
                user_width, [labels[i] for i in chunk], [roles[i] for i in chunk], title
            )
            title = ""  # on the first table only
        if numbered:
            width = len(labels[-1])
            for label, role in zip(labels, roles, strict=True):
                yield Text.assemble(("  " + label.rjust(width), "bold"), "  ", short_role(role))
        providers = self.matrix.providers()
        caption = "via " + ",\n    ".join(providers) if providers else "no user is offered a role"
        yield Text(caption, style="table.caption")  # one provider ARN a line: none is broken

    def _table(self, user_width: int, labels: list[str], roles: list[str], title: str) -> Table:
        table = Table(title=title or None)
        # fold: a name with no space to break at (an e-mail address) wraps rather than being cut.
        table.add_column("user", max_width=user_width, overflow="fold")
        for label in labels:
            table.add_column(label, justify="center", no_wrap=True)
        for user, offered in self.matrix.users.items():
            marks = [
                Text("✓", style="green") if role in offered else Text("·", style="dim")
                for role in roles
            ]
            table.add_row(Text(user), *marks)
        return table

    def _user_width(self, numbers: list[str], max_width: int) -> int:
        """Return the width of the user column: the longest name's, or less when that leaves the
        role columns too little room.

        A name may take what all the numbered role columns leave, and at least half the width;
        beyond that it wraps. Else an 88-character name at 80 columns would squeeze every role
        column to nothing: one empty column per table, and not one ✓ shown.
        """
        users = max((cell_len(user) for user in self.matrix.users), default=0)
        widest = max(cell_len("user"), users)
        left_by_roles = max_width - self._width(0, numbers)
        return max(cell_len("user"), min(widest, max(left_by_roles, max_width // 2 - 4)))

    @staticmethod
    def _width(user_width: int, labels: list[str]) -> int:
        """Return the width of one table with these column headers (box, one space of padding)."""
        return 1 + user_width + 3 + sum(max(cell_len(label), 1) + 3 for label in labels)

    def _chunks(self, user_width: int, labels: list[str], max_width: int) -> list[list[int]]:
        """Split the columns (by index) into runs whose tables fit ``max_width``."""
        chunks: list[list[int]] = [[]]
        width = self._width(user_width, [])
        for index, label in enumerate(labels):
            column = max(cell_len(label), 1) + 3
            if chunks[-1] and width + column > max_width:
                chunks.append([])
                width = self._width(user_width, [])
            chunks[-1].append(index)
            width += column
        return chunks


# --- golden files -------------------------------------------------------------------------------


def write_golden(matrix: RoleMatrix, path: Path) -> None:
    """Write ``matrix`` to ``path``: CSV for a ``.csv`` file, else the JSON form."""
    text = matrix.to_csv() if path.suffix.lower() == ".csv" else matrix.to_json()
    path.write_text(text, encoding="utf-8")


def read_golden(path: Path) -> RoleMatrix:
    """Read a golden matrix written by ``--write`` (JSON, or CSV by extension)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GoldenFileError(path, f"cannot read golden file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GoldenFileError(path, "cannot read golden file: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        return _golden_from_csv(path, text)
    return _golden_from_json(path, text)


def _golden_from_json(path: Path, text: str) -> RoleMatrix:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoldenFileError(
            path, f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("users"), dict):
        raise GoldenFileError(
            path,
            'expected {"scenario": ..., "users": {user: [role ARN, ...]}}'
            " as written by `fedharness plan --write`",
        )
    users: dict[str, UserRoles] = {}
    for user, roles in document["users"].items():
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise GoldenFileError(
                path, f"users.{user}: expected a list of role ARNs", _line_of_key(text, user)
            )
        users[user] = {role: frozenset() for role in roles}
    scenario = document.get("scenario")
    return RoleMatrix(scenario if isinstance(scenario, str) else "", users)


def _line_of_key(text: str, key: str) -> int | None:
    needle = json.dumps(key, ensure_ascii=False) + ":"
    offset = text.find(needle)
    return text.count("\n", 0, offset) + 1 if offset >= 0 else None


def _golden_from_csv(path: Path, text: str) -> RoleMatrix:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    users: dict[str, dict[str, set[str]]] = {}
    header_seen = False
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not header_seen:
                if tuple(c.strip() for c in cells) != CSV_HEADER:
                    raise GoldenFileError(path, f"expected the header {','.join(CSV_HEADER)}", line)
                header_seen = True
                continue
            if len(cells) != len(CSV_HEADER):
                raise GoldenFileError(path, f"expected 3 fields, got {len(cells)}", line)
            user, role, provider = (cell.strip() for cell in cells)
            if not user:
                raise GoldenFileError(path, "row has no user", line)
            roles = users.setdefault(user, {})
            if role:
                providers = roles.setdefault(role, set())
                if provider:
                    providers.add(provider)
    except csv.Error as exc:
        raise GoldenFileError(path, f"malformed CSV: {exc}", reader.line_num) from None
    if not header_seen:
        raise GoldenFileError(path, f"empty; expected the header {','.join(CSV_HEADER)}")
    return RoleMatrix(
        "",
        {
            user: {role: frozenset(ps) for role, ps in roles.items()}
            for user, roles in users.items()
        },
    )


# --- diff ---------------------------------------------------------------------------------------


class ChangeKind(StrEnum):
    """How a user's row of the matrix changed."""

    NEW_USER = "new user"
    REMOVED_USER = "removed user"
    GAINS = "gains"
    LOSES = "loses"
    PROVIDER = "provider"


@dataclass(frozen=True)
class MatrixChange:
    """One difference between the golden matrix and the current one."""

    kind: ChangeKind
    user: str
    role: str | None = None
    providers: tuple[frozenset[str], frozenset[str]] | None = None
    """(golden, current) providers of ``role``, for a PROVIDER change."""

    @property
    def sign(self) -> str:
        """Return ``+``, ``-`` or ``~``."""
        if self.kind in (ChangeKind.NEW_USER, ChangeKind.GAINS):
            return "+"
        return "-" if self.kind in (ChangeKind.REMOVED_USER, ChangeKind.LOSES) else "~"

    def line(self) -> str:
        """Return the change as one readable line, e.g. ``+ bob gains arn:…:role/Admin``."""
        if self.kind in (ChangeKind.NEW_USER, ChangeKind.REMOVED_USER):
            return f"{self.sign} {self.kind} {self.user}"
        if self.kind is ChangeKind.PROVIDER and self.providers is not None:
            was, now = (", ".join(sorted(p)) or "none" for p in self.providers)
            return f"~ {self.user} {self.role} now via {now} (was {was})"
        return f"{self.sign} {self.user} {self.kind} {self.role}"


def diff_matrices(golden: RoleMatrix, current: RoleMatrix) -> tuple[MatrixChange, ...]:
    """Return who gained or lost which role (and new or removed users), sorted by user."""
    changes: list[MatrixChange] = []
    for user in sorted(golden.users.keys() | current.users.keys()):
        before, after = golden.users.get(user), current.users.get(user)
        if before is None:
            changes.append(MatrixChange(ChangeKind.NEW_USER, user))
        elif after is None:
            changes.append(MatrixChange(ChangeKind.REMOVED_USER, user))
        before, after = before or {}, after or {}
        changes.extend(
            MatrixChange(ChangeKind.GAINS, user, role)
            for role in sorted(after.keys() - before.keys())
        )
        changes.extend(
            MatrixChange(ChangeKind.LOSES, user, role)
            for role in sorted(before.keys() - after.keys())
        )
        for role in sorted(before.keys() & after.keys()):
            if before[role] and after[role] and before[role] != after[role]:
                changes.append(
                    MatrixChange(ChangeKind.PROVIDER, user, role, (before[role], after[role]))
                )
    return tuple(changes)


def change_summary(changes: tuple[MatrixChange, ...]) -> str:
    """Return one line counting the changes by kind."""
    counts: dict[ChangeKind, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    labels = {
        ChangeKind.GAINS: "gained",
        ChangeKind.LOSES: "lost",
        ChangeKind.NEW_USER: "new users",
        ChangeKind.REMOVED_USER: "removed users",
        ChangeKind.PROVIDER: "provider changes",
    }
    return ", ".join(f"{labels[kind]}: {counts[kind]}" for kind in ChangeKind if kind in counts)
