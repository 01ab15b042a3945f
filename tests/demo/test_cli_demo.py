"""`fedharness demo` as a command: the bundled example with no arguments, Ctrl-C, bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

from idp.web_settings import SpTrust
from scenarios.demo import AWS_SP_ENTITY_ID, RunningDemo, local_aws_trust
from tests.conftest import ROOT

COMMAND = [sys.executable, "-m", "scenarios.cli_demo"]


def test_demo_prints_the_login_url_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(COMMAND, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        opened = process.stdout.readline().decode()
        assert first.startswith("fedharness demo: quickstart"), first
        assert opened.startswith("open http://127.0.0.1:") and opened.rstrip().endswith("/login")
        with urllib.request.urlopen(opened.split()[1], timeout=10) as page:  # noqa: S310
            assert b"Sign in as alice" in page.read()
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().rstrip().endswith("stopped")
    assert b"Traceback" not in stderr, stderr.decode()


def test_a_missing_scenario_is_one_line() -> None:
    result = subprocess.run(
        [*COMMAND, "--config", "no-such-file.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no-such-file.yaml"), result.stderr
    assert "Traceback" not in result.stderr


def test_aws_responses_post_locally_and_keep_aws_recipient(demo: RunningDemo) -> None:
    aws = demo.idp.state.trust["aws"]
    assert aws.acs_urls[0] == "https://signin.aws.amazon.com/saml"
    assert aws.post_to == f"{demo.signin.url}/saml"
    assert aws.entity_id == AWS_SP_ENTITY_ID


def test_other_service_providers_are_left_alone(demo: RunningDemo) -> None:
    other = SpTrust(
        name="app",
        entity_id="https://app.test",
        acs_urls=("https://app.test/acs",),
        acs_indexes={},
        want_requests_signed=False,
        certificates=(),
        slo_url=None,
        slo_binding="redirect",
        relay_state=None,
    )
    assert local_aws_trust({"app": other}, demo.signin.url) == {"app": other}
