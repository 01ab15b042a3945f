"""``fedharness idp serve``: loopback by default, threaded or under gunicorn, stops on SIGTERM."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from scenarios.cli_idp_serve import serve
from tests.conftest import CERTS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "idp.yaml"
    path.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
directory:
  users:
    alice: {{email: alice@corp.example, groups: [one]}}
""")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(serve, list(args))
    return result.exit_code, result.output


def test_non_loopback_host_needs_allow_remote(config: Path) -> None:
    code, output = run("--config", str(config), "--host", "0.0.0.0")  # noqa: S104
    assert code == 2
    assert "--host 0.0.0.0 is not a loopback address" in output
    assert "--allow-remote" in output


def test_bad_config_is_one_line_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("idp:\n  entity_id: x\n  web: {preview: maybe}\n")
    code, output = run("--config", str(path))
    assert code == 2
    assert f"{path}:" in output and "Traceback" not in output


@pytest.fixture
def started(config: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Any_]]:
    extra: list[str] = request.param
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenarios.cli_idp_serve",
            "--config",
            str(config),
            "--port",
            "0",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "fedharness IdP listening on http://127.0.0.1:" in first, first + (
            process.stderr.read() if process.poll() is not None and process.stderr else ""
        )
        url = first.split(" on ", 1)[1].split()[0]
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


Any_ = subprocess.Popen[str]


@pytest.mark.parametrize("started", [[]], indirect=True, ids=["threaded"])
def test_threaded_server_publishes_its_real_url_and_stops_on_sigterm(
    started: tuple[str, Any_],
) -> None:
    url, process = started
    metadata = requests.get(f"{url}/metadata", timeout=10).text
    assert f'Location="{url}/sso"' in metadata
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert process.stdout is not None and "stopped" in process.stdout.read()


needs_gunicorn = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None,
    reason="gunicorn is not installed (pip install gunicorn)",
)


@needs_gunicorn
@pytest.mark.parametrize("started", [["--workers", "2"]], indirect=True, ids=["gunicorn"])
def test_gunicorn_workers_share_run_time_group_changes(started: tuple[str, Any_]) -> None:
    url, process = started
    changed = requests.put(f"{url}/api/users/alice/groups", json={"groups": ["two"]}, timeout=10)
    assert changed.status_code == 200
    seen = set()
    for _ in range(20):  # new connections: the two workers both answer some of them
        with requests.Session() as session:
            users = session.get(f"{url}/api/users", timeout=10).json()["users"]
            seen.add(tuple(users[0]["groups"]))
    assert seen == {("two",)}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
