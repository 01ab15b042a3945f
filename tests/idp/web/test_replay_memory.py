"""Replay memory: in one process, or shared through SQLite by every worker process of a server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from idp.app import WebConfig, create_app
from idp.views.common import EXTENSION, WebState
from idp.views.errors import ReplayCheckUnavailableError
from idp.views.replay_memory import (
    SHARED_FILE_NAME,
    ReplayMemory,
    SeenIds,
    SharedSeenIds,
    replay_memory,
)
from tests.idp.web import test_serve
from tests.idp.web.test_protocol_audit import audit_config, authn_xml, query
from tests.idp.web.test_serve import Any_, needs_gunicorn

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
FORK = multiprocessing.get_context("fork")


def record(memory: ReplayMemory, key: str, at: dt.datetime = T0) -> bool:
    return memory.first_use(key, now=at, keep_until=at + 5 * MINUTE)


def in_process(_: Path, capacity: int) -> ReplayMemory:
    return SeenIds(capacity)


def shared(folder: Path, capacity: int) -> ReplayMemory:
    return SharedSeenIds(folder / SHARED_FILE_NAME, "request_ids", capacity=capacity, trim_every=1)


MEMORIES = pytest.mark.parametrize("make", [in_process, shared], ids=["in-process", "shared"])


# The contract, held by both memories ---------------------------------------------------------


@MEMORIES
def test_first_use_is_true_then_false(
    make: Callable[[Path, int], ReplayMemory], tmp_path: Path
) -> None:
    memory = make(tmp_path, 10)
    assert record(memory, "_a")
    assert not record(memory, "_a")
    assert not record(memory, "_a", T0 + 4 * MINUTE)
    assert record(memory, "_b")


@MEMORIES
def test_expiry_frees_a_key(make: Callable[[Path, int], ReplayMemory], tmp_path: Path) -> None:
    memory = make(tmp_path, 10)
    assert record(memory, "_a")
    assert record(memory, "_a", T0 + 5 * MINUTE)
    assert not record(memory, "_a", T0 + 6 * MINUTE)


@MEMORIES
def test_beyond_capacity_the_oldest_is_forgotten(
    make: Callable[[Path, int], ReplayMemory], tmp_path: Path
) -> None:
    memory = make(tmp_path, 3)
    for key in ("_1", "_2", "_3", "_4"):
        assert record(memory, key)
    assert not record(memory, "_4") and not record(memory, "_2")
    assert record(memory, "_1")


# The shared memory -----------------------------------------------------------------------------


def stored_rows(path: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT namespace, key, keep_until FROM seen_ids ORDER BY id"
        ).fetchall()


def test_two_stores_on_one_file_see_each_others_keys(tmp_path: Path) -> None:
    one, other = (SharedSeenIds(tmp_path / "replays.sqlite3", "request_ids") for _ in range(2))
    assert record(one, "_a")
    assert not record(other, "_a")
    assert record(other, "_b")
    assert not record(one, "_b")


def test_namespaces_keep_their_keys_apart(tmp_path: Path) -> None:
    requests_seen = SharedSeenIds(tmp_path / "replays.sqlite3", "request_ids")
    logins_used = SharedSeenIds(tmp_path / "replays.sqlite3", "login_nonces")
    assert record(requests_seen, "same") and record(logins_used, "same")
    assert not record(logins_used, "same")


def test_capacity_is_enforced_every_trim_every_keys(tmp_path: Path) -> None:
    path = tmp_path / "replays.sqlite3"
    memory = SharedSeenIds(path, "request_ids", capacity=5, trim_every=4)
    sizes = []
    for number in range(20):
        assert record(memory, f"_{number}")
        sizes.append(len(stored_rows(path)))
    assert max(sizes) <= 5 + 4 - 1
    assert sizes[-1] == 5  # the 20th key trimmed: the newest five remain
    assert [key for _, key, _ in stored_rows(path)] == ["_15", "_16", "_17", "_18", "_19"]


def test_times_are_stored_as_utc_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "replays.sqlite3"
    memory = SharedSeenIds(path, "request_ids")
    paris = dt.timezone(dt.timedelta(hours=2))
    until = dt.datetime(2024, 5, 1, 12, 5, tzinfo=paris)  # 10:05 UTC
    assert memory.first_use("_a", now=T0 - 2 * dt.timedelta(hours=2), keep_until=until)
    assert stored_rows(path) == [("request_ids", "_a", until.timestamp())]
    naive = dt.datetime(2024, 5, 1, 10, 4)  # naive times are UTC: not yet expired
    assert not memory.first_use("_a", now=naive, keep_until=naive)
    assert memory.first_use("_a", now=T0.replace(hour=10, minute=5), keep_until=T0)


def record_in_child(memory: ReplayMemory, keys: list[str], answers: Connection) -> None:
    answers.send([record(memory, key) for key in keys])
    answers.close()


def in_a_forked_process(memory: ReplayMemory, keys: list[str]) -> list[bool]:
    """Record ``keys`` in a forked child (it inherits ``memory``, as gunicorn workers do)."""
    receiving, sending = FORK.Pipe(duplex=False)
    child = FORK.Process(target=record_in_child, args=(memory, keys, sending))
    child.start()
    sending.close()
    answers: list[bool] = receiving.recv()
    child.join(timeout=30)
    assert child.exitcode == 0
    return answers


def test_a_forked_process_sees_the_parents_keys_and_the_parent_its(tmp_path: Path) -> None:
    memory = SharedSeenIds(tmp_path / "replays.sqlite3", "request_ids")
    assert record(memory, "_parent")  # the parent holds an open connection when it forks
    assert in_a_forked_process(memory, ["_parent", "_child"]) == [False, True]
    assert not record(memory, "_child")
    assert record(memory, "_fresh")


def test_concurrent_processes_accept_each_key_once(tmp_path: Path) -> None:
    memory = SharedSeenIds(tmp_path / "replays.sqlite3", "request_ids")
    keys = [f"_{number}" for number in range(40)]
    pipes = [FORK.Pipe(duplex=False) for _ in range(4)]
    children = [
        FORK.Process(target=record_in_child, args=(memory, keys, sending)) for _, sending in pipes
    ]
    for child in children:
        child.start()
    answers = [receiving.recv() for receiving, _ in pipes]
    for child in children:
        child.join(timeout=30)
    assert [sum(column) for column in zip(*answers, strict=True)] == [1] * len(keys)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """Return a replay file another connection holds an exclusive lock on."""
    path = tmp_path / SHARED_FILE_NAME
    assert record(SharedSeenIds(path, "request_ids"), "_created")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield path
    finally:
        holder.close()


def test_a_locked_store_raises_instead_of_answering(locked: Path) -> None:
    memory = SharedSeenIds(locked, "request_ids", busy_timeout=0.05)
    with pytest.raises(ReplayCheckUnavailableError, match="database is locked"):
        record(memory, "_a")


def test_a_store_that_is_not_a_database_raises(tmp_path: Path) -> None:
    path = tmp_path / SHARED_FILE_NAME
    path.write_bytes(b"not a database, but long enough to have a header" * 4)
    with pytest.raises(ReplayCheckUnavailableError, match="not a database"):
        record(SharedSeenIds(path, "request_ids"), "_a")


def test_replay_memory_is_shared_only_when_the_server_has_shared_state(tmp_path: Path) -> None:
    assert isinstance(replay_memory(None, "request_ids"), SeenIds)
    memory = replay_memory(tmp_path / "groups.json", "login_nonces")
    assert isinstance(memory, SharedSeenIds)
    assert memory.path == tmp_path / SHARED_FILE_NAME and memory.namespace == "login_nonces"


# Through the web app ---------------------------------------------------------------------------


def app_sharing(tmp_path: Path, secret_key: bytes = b"k" * 32) -> Flask:
    config = WebConfig.from_file(audit_config(tmp_path), shared_state=tmp_path / "groups.json")
    app = create_app(dataclasses.replace(config, secret_key=secret_key))
    app.testing = True
    return app


def web_state(app: Flask) -> WebState:
    found: WebState = app.extensions[EXTENSION]
    return found


def login_token(page: TestResponse | requests.Response) -> str:
    content = page.data if isinstance(page, TestResponse) else page.content
    found = etree.HTML(content).xpath("//input[@name='token']/@value")
    assert found, page.text[:1000]
    return str(found[0])


def test_apps_sharing_state_refuse_each_others_replays(tmp_path: Path) -> None:
    """Two apps on one shared_state, as two gunicorn workers: a replay to the other is refused."""
    one, other = (app_sharing(tmp_path).test_client() for _ in range(2))
    xml = authn_xml(id_="_replayed")
    assert one.get("/sso?" + query(xml)).status_code == 200
    again = other.get("/sso?" + query(xml))
    assert again.status_code == 400 and "replayed_request" in again.text
    token = login_token(one.get("/login"))
    cookie = one.get_cookie("fedharness_idp")
    assert cookie is not None
    form = {"token": token, "user": "alice", "preview": "0"}
    assert one.post("/login", data=form).status_code == 200
    other.set_cookie("fedharness_idp", cookie.value)  # the session as it was before the login
    refused = other.post("/login", data=form)
    assert refused.status_code == 400 and "login_expired" in refused.text


def authn_request_sent(client: FlaskClient) -> TestResponse:
    return client.get("/sso?" + query(authn_xml()))


def login_form_sent(client: FlaskClient) -> TestResponse:
    token = login_token(client.get("/login"))
    return client.post("/login", data={"token": token, "user": "alice", "preview": "0"})


SENDS = pytest.mark.parametrize(
    "send", [authn_request_sent, login_form_sent], ids=["AuthnRequest", "login form"]
)


def assert_unavailable(app: Flask, answer: TestResponse, cause: str) -> None:
    assert answer.status_code == 503, answer.text[:1000]
    assert "replay_check_unavailable" in answer.text and cause in answer.text
    assert "Traceback" not in answer.text
    assert not web_state(app).unexpected


@SENDS
def test_a_broken_store_answers_503_not_500(
    send: Callable[[FlaskClient], TestResponse], tmp_path: Path
) -> None:
    app = app_sharing(tmp_path)
    (tmp_path / SHARED_FILE_NAME).write_bytes(b"not a database, but a header's worth" * 4)
    assert_unavailable(app, send(app.test_client()), "not a database")


@SENDS
def test_a_locked_store_answers_503_not_500(
    send: Callable[[FlaskClient], TestResponse], tmp_path: Path, locked: Path
) -> None:
    app = app_sharing(tmp_path)
    current = web_state(app)
    current.seen = SharedSeenIds(locked, "request_ids", busy_timeout=0.05)
    current.used_logins = SharedSeenIds(locked, "login_nonces", busy_timeout=0.05)
    assert_unavailable(app, send(app.test_client()), "database is locked")


def test_a_failing_store_answers_json_clients_in_json(tmp_path: Path) -> None:
    app = app_sharing(tmp_path)
    (tmp_path / SHARED_FILE_NAME).write_bytes(b"not a database, but a header's worth" * 4)
    answer = app.test_client().get(
        "/sso?" + query(authn_xml()), headers={"Accept": "application/json"}
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "replay_check_unavailable"


# Real gunicorn workers -------------------------------------------------------------------------


started = test_serve.started
"""``fedharness idp serve`` in a subprocess (test_serve.py), serving this module's ``config``."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The IdP file ``started`` serves: the audit's, with an unsigned SP ('plain')."""
    return audit_config(tmp_path)


def answers_to(send: Callable[[], requests.Response], times: int) -> list[requests.Response]:
    """Send ``times`` times at once, each on a new connection, so every worker answers some."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: send(), range(times)))


def statuses(answers: list[requests.Response]) -> list[tuple[int, str | None]]:
    codes = ("replayed_request", "login_expired", "replay_check_unavailable")
    return sorted(
        (answer.status_code, next((code for code in codes if code in answer.text), None))
        for answer in answers
    )


@needs_gunicorn
@pytest.mark.parametrize("started", [["--workers", "2"]], indirect=True, ids=["gunicorn"])
def test_gunicorn_workers_accept_an_authn_request_once(started: tuple[str, Any_]) -> None:
    url, _ = started
    sent = f"{url}/sso?" + query(authn_xml(id_="_sent_to_every_worker"))
    answers = answers_to(lambda: requests.get(sent, timeout=30), 40)
    assert statuses(answers) == [(200, None)] + [(400, "replayed_request")] * 39


@needs_gunicorn
@pytest.mark.parametrize("started", [["--workers", "2"]], indirect=True, ids=["gunicorn"])
def test_gunicorn_workers_accept_a_login_form_once(started: tuple[str, Any_]) -> None:
    url, _ = started
    with requests.Session() as browser:
        token = login_token(browser.get(f"{url}/login", timeout=30))
        cookie = browser.cookies["fedharness_idp"]
    form = {"token": token, "user": "alice", "preview": "0"}
    answers = answers_to(
        lambda: requests.post(
            f"{url}/login", data=form, cookies={"fedharness_idp": cookie}, timeout=30
        ),
        40,
    )
    assert statuses(answers) == [(200, None)] + [(400, "login_expired")] * 39
