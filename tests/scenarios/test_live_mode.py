"""Live mode: against a real sandbox account when one is configured, otherwise its code path
(LiveSts: real STS call + our own verdict + fidelity findings) against `fedharness sts serve`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.exchange import LiveExchanger, ServerExchanger
from scenarios.loader import load_scenario
from scenarios.runner import run_scenario
from sp_fixtures.aws.iam_view import MotoIam
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import StrictSts
from tests.conftest import EXAMPLES

LIVE_PROFILE = os.environ.get("FEDHARNESS_LIVE_PROFILE")
LIVE_SCENARIO = os.environ.get("FEDHARNESS_LIVE_SCENARIO")


@pytest.mark.skipif(
    not (LIVE_PROFILE and LIVE_SCENARIO),
    reason="live AWS not configured: set FEDHARNESS_LIVE_PROFILE to the AWS profile of a sandbox "
    "account and FEDHARNESS_LIVE_SCENARIO to a scenario (own keys, applied with "
    "`fedharness aws apply`) to run it against real STS",
)
def test_scenario_against_a_live_sandbox_account() -> None:
    assert LIVE_PROFILE and LIVE_SCENARIO
    result = CliRunner().invoke(
        main, ["run", LIVE_SCENARIO, "--aws", "live", "--profile", LIVE_PROFILE]
    )
    assert result.exit_code == 0, result.stdout
    assert "fidelity finding" not in result.stdout


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    from moto.moto_api import _internal

    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    _internal.moto_api_backend.reset()
    running = serve_in_thread(StrictStsApp(StrictSts(MotoIam())))
    try:
        yield running
    finally:
        running.stop()
        _internal.moto_api_backend.reset()


def test_live_code_path_against_sts_serve(server: RunningServer) -> None:
    loaded = load_scenario(EXAMPLES / "single-account.yaml")
    ServerExchanger(loaded, server.url)  # provisions the world through the server's IAM API
    account_url = f"{server.url}/_account/111111111111"
    result = run_scenario(loaded, LiveExchanger(loaded, endpoint_url=account_url))
    assert result.mode == "live"
    assert result.passed, [c.message for u in result.users for c in u.failures]
    assert result.findings == ()
    assert [u.user for u in result.users] == ["alice", "bob", "carol"]


def test_live_mode_reports_fidelity_findings(server: RunningServer, tmp_path: Path) -> None:
    """A server that accepts what AWS refuses shows up as a finding, not a silent pass."""
    loaded = load_scenario(EXAMPLES / "single-account.yaml")
    ServerExchanger(loaded, server.url)
    live = LiveExchanger(loaded, endpoint_url=f"{server.url}/_account/111111111111")
    issued = loaded.provider.issue("bob")
    refused_by_both = live.exchange(
        "arn:aws:iam::111111111111:role/Admin",
        "arn:aws:iam::111111111111:saml-provider/CorpIdP",
        issued.saml_response,
    )
    assert refused_by_both.error_code == "AccessDenied"
    assert refused_by_both.finding is None


def test_server_mode_reuses_a_world_the_server_already_has(server: RunningServer) -> None:
    loaded = load_scenario(EXAMPLES / "single-account.yaml")
    ServerExchanger(loaded, server.url)  # as `fedharness sts serve --config` does at start
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(EXAMPLES / "single-account.yaml"),
            "--aws",
            "server",
            "--endpoint-url",
            server.url,
        ],
    )
    assert result.exit_code == 0, result.stdout
    assert "3 passed, 0 failed" in result.stdout
