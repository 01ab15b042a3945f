"""`fedharness run`: exit statuses, the terminal report, JUnit and JSON files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from scenarios.cli import main
from tests.conftest import DATA, ROOT

VERDICTS = DATA / "scenarios" / "verdicts.yaml"


def test_cli_exit_codes_and_reports(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(
        main,
        [
            "run",
            str(VERDICTS),
            "--json",
            str(tmp_path / "r.json"),
            "--junit",
            str(tmp_path / "r.xml"),
        ],
    )
    assert good.exit_code == 0, good.output
    assert "3 passed, 0 failed" in good.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is True
    assert [u["user"] for u in report["scenarios"][0]["users"]] == ["alice", "bob", "carol"]
    suite = etree.parse(str(tmp_path / "r.xml")).getroot()[0]
    assert suite.get("tests") == "3" and suite.get("failures") == "0"
    failing = ROOT / "scenarios" / "failing" / "admin-leak.yaml"
    bad = runner.invoke(main, ["run", str(failing), "--junit", str(tmp_path / "f.xml")])
    assert bad.exit_code == 1
    assert "unexpected role arn:aws:iam::111111111111:role/Admin" in bad.stdout
    failures = etree.parse(str(tmp_path / "f.xml")).getroot().iter("failure")
    assert any("missing role" in (f.get("message") or "") for f in failures)
    missing = runner.invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2


def test_examples_all_pass() -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "examples")])
    assert result.exit_code == 0, result.stdout
    assert ", 0 failed" in result.stdout


def test_unreachable_endpoints_are_one_line_errors() -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    scenario = str(ROOT / "scenarios" / "examples" / "single-account.yaml")
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    for mode in ("server", "live"):
        result = CliRunner(env=env).invoke(
            main, ["run", "--aws", mode, "--endpoint-url", url, scenario]
        )
        assert result.exit_code == 2, (mode, result.output)
        assert "Could not connect to the endpoint URL" in result.stderr
        if mode == "server":
            assert "is a server listening there? `fedharness sts serve`" in result.stderr
        assert "Traceback" not in result.output


def test_report_in_a_ci_log_names_the_expectation_and_keeps_failures_whole() -> None:
    """stdout is not a terminal here, as in CI: lines are whole, however long (the terminal's
    table and wrapped failures: tests/scenarios/test_report.py)."""
    many_groups = ROOT / "scenarios" / "examples" / "many-groups.yaml"
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["run", str(many_groups)])
    assert result.exit_code == 0, result.stdout
    assert "expect.group:contractors" in result.stdout  # a group entry, not the user's own
    failing = ROOT / "scenarios" / "failing" / "admin-leak.yaml"
    bad = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["run", str(failing)])
    lines = bad.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "missing role" in line)
    assert lines[start].startswith("  ✗ bob [roles] missing role")
    assert lines[start].endswith("request had 'https://signin.aws.amazon.com/saml')")
    assert lines[start + 1] == "1 passed, 1 failed"


def test_live_mode_without_credentials_says_what_it_needs(tmp_path: Path) -> None:
    scenario = str(ROOT / "scenarios" / "examples" / "single-account.yaml")
    env = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = CliRunner(env=env).invoke(
        main, ["run", "--aws", "live", "--endpoint-url", "http://127.0.0.1:9", scenario]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: no AWS credentials: live mode reads the SAML provider and roles from IAM, so it "
        "needs the sandbox account's (--profile, AWS_PROFILE or AWS_* variables)"
    )
