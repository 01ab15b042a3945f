"""The directory as served: the configured one plus group changes made through the API.

A :class:`~idp.directory.Directory` never changes in place, so a change builds a new directory and
a new (shallow-copied) provider, then swaps one reference: readers never take the lock. Under
gunicorn each worker is its own process; given a ``shared_file``, every change is written there
(atomically, under a file lock) and each worker picks it up on its next request, so a change
made through one worker is what the others serve too.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from idp.directory import Directory, User
from idp.provider import IdentityProvider
from idp.views.errors import BadApiRequestError
from idp.views.xml_text import printable, xml_text_problem

_Stamp = tuple[int, int, int]


class DirectoryState:
    """Hold the provider currently served and apply run-time group changes to it."""

    def __init__(self, base: IdentityProvider, *, shared_file: Path | None = None) -> None:
        self._base = base
        self._provider = base
        self._changes: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._shared = shared_file
        self._stamp: _Stamp | None = None

    def provider(self) -> IdentityProvider:
        """Return the provider to use for this request (with every change so far)."""
        if self._shared is not None and _stamp_of(self._shared) != self._stamp:
            with self._lock:
                self._apply(self._read_shared())
        return self._provider

    def changes(self) -> Mapping[str, tuple[str, ...]]:
        """Return the run-time group changes: user name → direct groups."""
        self.provider()
        return dict(self._changes)

    def set_groups(self, user_name: str, groups: Sequence[str]) -> User:
        """Make ``groups`` the direct groups of ``user_name``; return the changed user."""
        self._base.directory.user(user_name)  # unknown users raise UnknownUserError
        for index, group in enumerate(groups):  # the API checks too; nothing bad is ever stored
            if (problem := xml_text_problem(group)) is not None:
                raise BadApiRequestError(f"groups.{index} ({printable(group)!r}): {problem}")
        with self._lock, self._file_lock():
            changes = self._read_shared() if self._shared is not None else dict(self._changes)
            changes[user_name] = tuple(dict.fromkeys(groups))
            self._write_shared(changes)
            self._apply(changes)
        return self._provider.directory.user(user_name)

    def reset(self) -> None:
        """Drop every run-time change: serve the configured directory again."""
        with self._lock, self._file_lock():
            self._write_shared({})
            self._apply({})

    def _apply(self, changes: dict[str, tuple[str, ...]]) -> None:
        directory: Directory = self._base.directory
        for name, groups in changes.items():
            directory = directory.with_user(
                dataclasses.replace(self._base.directory.user(name), direct_groups=groups)
            )
        provider = self._base
        if changes:
            provider = copy.copy(self._base)
            provider.directory = directory
        self._changes = changes
        self._provider = provider
        if self._shared is not None:
            self._stamp = _stamp_of(self._shared)

    def _read_shared(self) -> dict[str, tuple[str, ...]]:
        if self._shared is None:
            return dict(self._changes)
        try:
            stored = json.loads(self._shared.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {name: tuple(groups) for name, groups in stored.get("changes", {}).items()}

    def _write_shared(self, changes: Mapping[str, tuple[str, ...]]) -> None:
        if self._shared is None:
            return
        temporary = self._shared.with_name(f".{self._shared.name}.{os.getpid()}.tmp")
        temporary.write_text(
            json.dumps({"changes": {k: list(v) for k, v in changes.items()}}), encoding="utf-8"
        )
        os.replace(temporary, self._shared)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._shared is None:
            yield
            return
        with open(self._shared.with_name(self._shared.name + ".lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_of(path: Path) -> _Stamp | None:
    """Return what changes when the shared file is replaced: inode, mtime and size."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)
