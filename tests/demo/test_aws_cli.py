"""The AWS CLI, unmodified, against the demo's strict STS with `fedharness idp assertion` output.

The same path against `fedharness sts serve` (and `get-caller-identity` with the credentials) is
tests/sp_fixtures/aws/test_server.py::test_serve_command_end_to_end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.demo import DEFAULT_SCENARIO, RunningDemo
from tests.conftest import ROOT

AWS_CLI = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
ADMIN = "arn:aws:iam::111111111111:role/Admin"
CORP = "arn:aws:iam::111111111111:saml-provider/CorpIdP"

pytestmark = pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI (pip awscli) is not installed")


def assertion_file(user: str, tmp_path: Path) -> Path:
    """Write `fedharness idp assertion` for ``user`` to a file and return it."""
    issued = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenarios.cli",
            "idp",
            "assertion",
            "--config",
            str(DEFAULT_SCENARIO),
            "--user",
            user,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    path = tmp_path / f"{user}.b64"
    path.write_text(issued.stdout.strip())
    return path


def assume_role_with_saml(demo: RunningDemo, response: Path) -> subprocess.CompletedProcess[str]:
    """Run `aws sts assume-role-with-saml` for Admin against the demo's strict STS."""
    assert AWS_CLI is not None
    environment = {
        **os.environ,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        environment.pop(key, None)  # AssumeRoleWithSAML needs no credentials
    return subprocess.run(
        [
            AWS_CLI,
            "--endpoint-url",
            demo.sts.url,
            "--output",
            "json",
            "sts",
            "assume-role-with-saml",
            "--role-arn",
            ADMIN,
            "--principal-arn",
            CORP,
            "--saml-assertion",
            f"file://{response}",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_aws_cli_gets_credentials_for_a_mapped_user(demo: RunningDemo, tmp_path: Path) -> None:
    result = assume_role_with_saml(demo, assertion_file("alice", tmp_path))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::111111111111:assumed-role/Admin/alice@corp.example"
    )
    assert answer["Credentials"]["SessionToken"]


def test_aws_cli_is_refused_for_a_user_without_roles(demo: RunningDemo, tmp_path: Path) -> None:
    result = assume_role_with_saml(demo, assertion_file("carol", tmp_path))
    assert result.returncode != 0
    assert "(AccessDenied)" in result.stderr or "(InvalidIdentityToken)" in result.stderr, (
        result.stderr
    )
    assert "Credentials" not in result.stdout
