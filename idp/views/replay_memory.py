"""What the IdP remembers to refuse replays: request IDs and used login nonces, until they expire.

:class:`SeenIds` keeps them in the memory of one process (the threaded server). Under gunicorn
every worker is a process of its own, so :class:`SharedSeenIds` keeps them in one SQLite file
that every worker of the server opens: a message replayed to another worker is refused there too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from idp.views.errors import ReplayCheckUnavailableError

log = logging.getLogger("idp.web")

SEEN_IDS_KEPT = 50_000
"""Most request IDs (or used login nonces) remembered at once (oldest forgotten first)."""
SHARED_FILE_NAME = "replays.sqlite3"
"""Name of the shared replay memory, in the directory of ``WebConfig.shared_state``."""

_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS seen_ids (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    keep_until REAL NOT NULL,
    UNIQUE (namespace, key)
);
CREATE INDEX IF NOT EXISTS seen_ids_expiry ON seen_ids (namespace, keep_until);
CREATE INDEX IF NOT EXISTS seen_ids_order ON seen_ids (namespace, id);
COMMIT;
"""
"""``id`` grows with every insert, so it orders keys oldest first; ``keep_until`` is a POSIX
timestamp (seconds since 1970-01-01 UTC)."""


class ReplayMemory(Protocol):
    """Where IDs are remembered until they expire."""

    def first_use(self, key: str, *, now: dt.datetime, keep_until: dt.datetime) -> bool:
        """Record ``key``; return False when it was already recorded and has not expired."""
        ...


class SeenIds:
    """IDs seen lately by this process, each remembered until it expires; bounded, thread-safe.

    Only for a server that is one process: gunicorn workers each have their own copy, so they
    use :class:`SharedSeenIds` instead (``create_app`` picks it when ``shared_state`` is set).
    """

    def __init__(self, capacity: int = SEEN_IDS_KEPT) -> None:
        self._capacity = capacity
        self._expiry: OrderedDict[str, dt.datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key: str, *, now: dt.datetime, keep_until: dt.datetime) -> bool:
        """Record ``key``; return False when it was already recorded and has not expired."""
        with self._lock:
            # Drop the expired ones first: every key of one SeenIds is kept equally long, so
            # insertion order is expiry order (one SeenIds per validity window).
            while self._expiry:
                oldest, until = next(iter(self._expiry.items()))
                if until > now:
                    break
                del self._expiry[oldest]
            known = self._expiry.get(key)
            if known is not None and known > now:
                return False
            self._expiry[key] = keep_until
            self._expiry.move_to_end(key)
            while len(self._expiry) > self._capacity:
                self._expiry.popitem(last=False)
            return True


@dataclass
class _ProcessConnection:
    """One process's connection to the shared file, and the lock its threads take to use it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    connection: sqlite3.Connection | None = None
    recorded: int = 0
    """Keys this process recorded (every ``trim_every``-th trims the memory)."""


class SharedSeenIds:
    """IDs seen lately by any process of one server, kept in a SQLite file; bounded, thread-safe.

    gunicorn forks the workers after the app is built, and a SQLite connection must never be
    used on both sides of a fork (https://www.sqlite.org/howtocorrupt.html#fork), so each
    process opens its own on first use; its threads share it under a lock. Connections and
    locks are kept by process ID: a child never touches (nor closes) what it inherited.
    ``BEGIN IMMEDIATE`` takes the file's write lock before the check, so check-and-record is
    atomic across processes; another process's transaction is waited for ``busy_timeout``
    seconds. When the file cannot be used, :class:`ReplayCheckUnavailableError` is raised: the
    request is refused rather than let through unchecked.

    ``namespace`` keeps this memory's keys apart from other memories in the same file. Keys
    beyond ``capacity`` (per namespace, all processes together) are dropped oldest first, every
    ``trim_every`` keys a process records (counting them is a scan), so the file may hold a few
    more for a while.
    """

    def __init__(
        self,
        path: Path,
        namespace: str,
        *,
        capacity: int = SEEN_IDS_KEPT,
        busy_timeout: float = 5.0,
        trim_every: int = 100,
    ) -> None:
        self.path = path
        self.namespace = namespace
        self._capacity = capacity
        self._busy_timeout = busy_timeout
        self._trim_every = trim_every
        self._by_process: dict[int, _ProcessConnection] = {}

    def first_use(self, key: str, *, now: dt.datetime, keep_until: dt.datetime) -> bool:
        """Record ``key``; return False when it was already recorded and has not expired."""
        pid = os.getpid()
        # setdefault is atomic: the threads of a new process agree on one lock
        mine = self._by_process.get(pid) or self._by_process.setdefault(pid, _ProcessConnection())
        with mine.lock:
            try:
                if mine.connection is None:
                    mine.connection = self._connect()
                return self._record(
                    mine, mine.connection, key, _timestamp(now), _timestamp(keep_until)
                )
            except sqlite3.Error as exc:
                log.warning("replay memory %s failed: %s", self.path, exc)
                raise ReplayCheckUnavailableError(
                    f"the IdP could not check this request against replays ({exc}), so it "
                    "refused it rather than accept it unchecked; try again"
                ) from None

    def _record(
        self,
        mine: _ProcessConnection,
        connection: sqlite3.Connection,
        key: str,
        now: float,
        keep_until: float,
    ) -> bool:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "DELETE FROM seen_ids WHERE namespace = ? AND keep_until <= ?",
                (self.namespace, now),
            )
            inserted = connection.execute(
                "INSERT INTO seen_ids (namespace, key, keep_until) VALUES (?, ?, ?) "
                "ON CONFLICT (namespace, key) DO NOTHING",
                (self.namespace, key, keep_until),
            )
            first = inserted.rowcount == 1
            if first:
                mine.recorded += 1
                if mine.recorded % self._trim_every == 0:
                    self._trim(connection)
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.rollback()
            raise
        return first

    def _trim(self, connection: sqlite3.Connection) -> None:
        """Forget the oldest keys beyond ``capacity``."""
        connection.execute(
            "DELETE FROM seen_ids WHERE namespace = :namespace AND id <= ("
            "SELECT id FROM seen_ids WHERE namespace = :namespace "
            "ORDER BY id DESC LIMIT 1 OFFSET :capacity)",
            {"namespace": self.namespace, "capacity": self._capacity},
        )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,  # transactions are begun explicitly
            check_same_thread=False,  # the threads of this process, one at a time (the lock)
        )
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")  # temp file: no fsync per commit
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection


def _timestamp(moment: dt.datetime) -> float:
    """Return a POSIX timestamp (UTC); a naive time is taken as UTC."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)).timestamp()


def replay_memory(shared_state: Path | None, namespace: str) -> ReplayMemory:
    """Return where one kind of ID is remembered: shared beside ``shared_state`` when the server
    has one (gunicorn workers), else in this process."""
    if shared_state is None:
        return SeenIds()
    return SharedSeenIds(shared_state.with_name(SHARED_FILE_NAME), namespace)
