"""The strict STS, one rule at a time, through every way in: the Python API, boto3 under
mock_aws, and boto3 and the AWS CLI against ``fedharness sts serve`` on a free port."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.yamlfile import load_yaml, validate
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.context import name_qualifier
from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory
from sp_fixtures.aws.inprocess import strict_sts
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts
from tests.sp_fixtures.aws.sts_cases import CASES, WORLD, Case, Forge

FAILURES = [c for c in CASES if c.code is not None]
CONTROLS = [c for c in CASES if c.code is None]
AWS_CLI = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


class Harness:
    def __init__(
        self,
        provider: IdentityProvider,
        sts: StrictSts,
        stranger: tuple[Path, Path],
        server: RunningServer,
    ) -> None:
        self.provider = provider
        self.sts = sts
        self.stranger = stranger
        self.server = server

    def forge(self) -> Forge:
        return Forge(self.provider, dt.datetime.now(dt.UTC), self.stranger)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    stranger = write_pair(
        generate_self_signed("not in any metadata"), tmp_path_factory.mktemp("stranger"), "stranger"
    )
    provider = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name="sts-rules",
        )
        sts = StrictSts(MotoIam(provisioned.extras))
        server = serve_in_thread(StrictStsApp(sts))
        try:
            yield Harness(provider, sts, stranger, server)
        finally:
            server.stop()


def _check_error(case: Case, code: str, message: str) -> None:
    assert code == case.code
    if case.message is not None:
        assert case.message in message


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.id)
def test_api_refuses(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    verdict = harness.sts.judge(AssumeRoleWithSamlRequest.from_params(params))
    assert verdict.error is not None, "accepted"
    assert verdict.failed_rule == case.rule, verdict.error
    _check_error(case, verdict.error.code, verdict.error.message)
    with pytest.raises(StsError) as raised:
        harness.sts.assume_role_with_saml(**params)
    assert raised.value.code == case.code


def _sts_client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.id)
def test_boto3_in_process_refuses(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    with strict_sts(harness.sts), pytest.raises(ClientError) as raised:
        _sts_client().assume_role_with_saml(**params)
    error = raised.value.response["Error"]
    _check_error(case, error["Code"], error["Message"])


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.id)
def test_boto3_against_server_refuses(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    with pytest.raises(ClientError) as raised:
        _sts_client(harness.server.url).assume_role_with_saml(**params)
    error = raised.value.response["Error"]
    _check_error(case, error["Code"], error["Message"])
    status = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status == (403 if case.code in ("AccessDenied", "IDPRejectedClaim") else 400)


def _aws_cli(
    harness: Harness, params: dict[str, Any], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    assert AWS_CLI is not None
    assertion = tmp_path / "assertion.b64"
    assertion.write_text(params["SAMLAssertion"])
    command = [
        AWS_CLI,
        "sts",
        "assume-role-with-saml",
        "--endpoint-url",
        harness.server.url,
        "--region",
        "us-east-1",
        "--output",
        "json",
        "--role-arn",
        params["RoleArn"],
        "--principal-arn",
        params["PrincipalArn"],
        "--saml-assertion",
        f"file://{assertion}",
    ]
    for key, option in (("DurationSeconds", "--duration-seconds"), ("Policy", "--policy")):
        if key in params:
            command += [option, str(params[key])]
    if "PolicyArns" in params:
        command += ["--policy-arns", *(f"arn={a['arn']}" for a in params["PolicyArns"])]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


needs_aws_cli = pytest.mark.skipif(
    AWS_CLI is None, reason="the AWS CLI (pip awscli) is not installed"
)


@needs_aws_cli
@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.id)
def test_aws_cli_against_server_refuses(harness: Harness, case: Case, tmp_path: Path) -> None:
    result = _aws_cli(harness, case.build(harness.forge()), tmp_path)
    assert result.returncode != 0, result.stdout
    assert f"({case.code})" in result.stderr, result.stderr
    if case.message is not None:
        assert case.message in result.stderr


def _check_answer(harness: Harness, params: dict[str, Any], answer: dict[str, Any]) -> None:
    role_name = params["RoleArn"].rsplit("/", 1)[1]
    account = params["RoleArn"].split(":")[4]
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert answer["Subject"] in ("alice", "bob")
    session_name = f"{answer['Subject']}@corp.example"
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
    )
    assert answer["AssumedRoleUser"]["AssumedRoleId"].endswith(f":{session_name}")
    assert answer["SubjectType"] == "persistent"
    assert answer["Issuer"] == "https://idp.corp.example/saml"
    provider_name = params["PrincipalArn"].rsplit("/", 1)[1]
    assert answer["NameQualifier"] == name_qualifier(
        "https://idp.corp.example/saml", params["PrincipalArn"].split(":")[4], provider_name
    )
    assert answer["Audience"].startswith("https://")


@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.id)
def test_api_accepts(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    _check_answer(harness, params, harness.sts.assume_role_with_saml(**params))


@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.id)
def test_boto3_in_process_accepts_and_credentials_work(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    with strict_sts(harness.sts):
        answer = _sts_client().assume_role_with_saml(**params)
    _check_answer(harness, params, answer)
    credentials = answer["Credentials"]
    caller = boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert caller["Arn"] == answer["AssumedRoleUser"]["Arn"]


@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.id)
def test_boto3_against_server_accepts(harness: Harness, case: Case) -> None:
    params = case.build(harness.forge())
    _check_answer(harness, params, _sts_client(harness.server.url).assume_role_with_saml(**params))


@needs_aws_cli
@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.id)
def test_aws_cli_against_server_accepts(harness: Harness, case: Case, tmp_path: Path) -> None:
    import json

    result = _aws_cli(harness, case.build(harness.forge()), tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert answer["Issuer"] == "https://idp.corp.example/saml"


def test_name_qualifier_matches_the_documented_example() -> None:
    assert name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP") == (
        "1uAJanUnBc2XeUkHURMht+xam2c="
    )
