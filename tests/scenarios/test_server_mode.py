"""`fedharness run --aws server`: the server's IAM is brought to the scenario before exchanging.

A server keeps whatever it was given: `sts serve --config` at start, an earlier version of the
scenario, another scenario's world. Server mode reconciles the providers and roles the scenario
names (creates what is missing, updates what differs, reports each change) and leaves the others
alone, so its verdicts are moto mode's.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner, Result

from scenarios.cli import main
from scenarios.exchange import ServerExchanger
from scenarios.loader import load_scenario
from sp_fixtures.aws.iam_view import MotoIam, pin_moto_account
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.saml_provider_calls import private_key_id
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import StrictSts
from tests.conftest import CERTS, EXAMPLES, ROOT

ACCOUNT = "111111111111"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
READ_ONLY = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"
CORP = f"arn:aws:iam::{ACCOUNT}:saml-provider/CorpIdP"
EU_WEST_1 = "https://eu-west-1.signin.aws.amazon.com/saml"
ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
MANAGED = {"fedharness:managed": "true", "fedharness:scenario": "single-account"}
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
BUCKET_READ: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


# --- scenario files ----------------------------------------------------------------------------


def single_account() -> dict[str, Any]:
    """Return scenarios/examples/single-account.yaml as data, its key paths made absolute."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / "single-account.yaml").read_text())
    data["idp"]["signing"] = {
        "key": str(CERTS / "sample-idp.key"),
        "cert": str(CERTS / "sample-idp.crt"),
    }
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def account(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data["aws"]["accounts"][ACCOUNT]
    return found


def regional_read_only(tmp_path: Path) -> Path:
    """single-account.yaml with ReadOnly trusting only eu-west-1's sign-in endpoint (the bug)."""
    data = single_account()
    account(data)["roles"]["ReadOnly"]["trusts"] = {"provider": "CorpIdP", "audiences": [EU_WEST_1]}
    return write(tmp_path, data, "regional-read-only.yaml")


# --- servers -------------------------------------------------------------------------------------

URL = re.compile(rb"listening on (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def serve_config() -> Iterator[Callable[[Path], str]]:
    """Start `fedharness sts serve --port 0 --config FILE` as a process; return its URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: Path) -> str:
        command = [
            sys.executable,
            "-m",
            "scenarios.cli",
            "sts",
            "serve",
            "--port",
            "0",
            "--config",
            str(config),
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        processes.append(process)
        return _wait_for_url(process)

    try:
        yield start
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=30)


def _wait_for_url(process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (match := URL.search(seen)) is None or b"Ctrl-C" not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no URL within {timeout}s: {seen!r}"
            if selector.select(remaining):
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, f"exited early: {seen!r}"
                seen += chunk
    return match.group(1).decode()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """`sts serve` without --config, in a thread on a free port, over fresh moto backends."""
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


def iam_client(url: str, account_id: str = ACCOUNT) -> Any:
    client = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pin_moto_account(client, account_id)
    return client


def provision_on(url: str, path: Path, *, keep: Callable[[str], bool] = lambda _: True) -> None:
    """Provision a scenario's world through the server's IAM as `sts serve --config` does
    (only the roles ``keep`` says: a partly provisioned server)."""
    loaded = load_scenario(path)
    world = loaded.scenario.aws
    accounts = {
        account_id: spec.model_copy(
            update={"roles": {n: r for n, r in spec.roles.items() if keep(n)}}
        )
        for account_id, spec in world.accounts.items()
    }
    provision(
        world.model_copy(update={"accounts": accounts}),
        iam_client_factory=lambda account_id: iam_client(url, account_id),
        idp_metadata=loaded.provider.metadata(),
        base_dir=path.parent,
        scenario_name=loaded.name,
    )


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["run", *map(str, args)], env=ENV)


def verdicts(report: Path) -> dict[str, Any]:
    """Return each user's verdict, roles assumed and exchange outcomes from a JSON report."""
    data = json.loads(report.read_text())
    (scenario,) = data["scenarios"]
    return {
        user["user"]: (
            user["passed"],
            sorted(user["assumed"]),
            sorted(
                (e["role"], e["ok"], e["error"] and e["error"]["code"]) for e in user["exchanges"]
            ),
        )
        for user in scenario["users"]
    }


def server_lines(stderr: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in stderr.splitlines() if line.startswith("server ")]


def role_state(iam: Any, name: str) -> dict[str, Any]:
    """Return what a role is: path, trust, duration, tags, managed and inline policies."""
    role = iam.get_role(RoleName=name)["Role"]
    policies = iam.list_role_policies(RoleName=name)["PolicyNames"]
    return {
        "Arn": role["Arn"],
        "RoleId": role["RoleId"],
        "Trust": role["AssumeRolePolicyDocument"],
        "MaxSessionDuration": role["MaxSessionDuration"],
        "Tags": {t["Key"]: t["Value"] for t in role.get("Tags", [])},
        "Managed": sorted(
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        ),
        "Inline": {
            p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"] for p in policies
        },
    }


def provider_state(iam: Any, arn: str) -> dict[str, Any]:
    found = iam.get_saml_provider(SAMLProviderArn=arn)
    found.pop("ResponseMetadata")
    found.pop("CreateDate", None)
    for key in found.get("PrivateKeyList", []):
        key.pop("Timestamp", None)
    return dict(found)


# --- the false pass ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["regional-read-only", "admin-leak"])
def test_a_server_started_with_another_world_gives_moto_modes_verdicts(
    scenario: str, serve_config: Callable[[Path], str], tmp_path: Path
) -> None:
    """`sts serve --config single-account.yaml`, then a scenario whose roles differ: the run
    used to pass on the server's old trust policies (3 passed, exit 0)."""
    path = (
        regional_read_only(tmp_path)
        if scenario == "regional-read-only"
        else ROOT / "scenarios" / "failing" / "admin-leak.yaml"
    )
    url = serve_config(EXAMPLES / "single-account.yaml")

    on_server = run(
        "--aws", "server", "--endpoint-url", url, path, "--json", tmp_path / "server.json"
    )
    in_moto = run(path, "--json", tmp_path / "moto.json")

    assert on_server.exit_code == in_moto.exit_code == 1, on_server.output
    assert verdicts(tmp_path / "server.json") == verdicts(tmp_path / "moto.json")
    changes = server_lines(on_server.stderr)
    if scenario == "regional-read-only":
        assert "1 passed, 2 failed" in on_server.stdout
        assert changes == [f"updated role {READ_ONLY}: trust policy replaced by the scenario's"]
    else:
        assert "1 passed, 1 failed" in on_server.stdout
        assert f"updated role {READ_ONLY}: trust policy replaced by the scenario's" in changes
        assert f"updated role {ADMIN}: detached {ADMIN_ACCESS}" in changes
        assert (
            f"updated role {ADMIN}: tag fedharness:scenario=admin-leak "
            "(was single-account)" in changes
        )
    assert iam_client(url).get_role(RoleName="ReadOnly")["Role"]["AssumeRolePolicyDocument"][
        "Statement"
    ][0]["Condition"] == {"StringEquals": {"SAML:aud": EU_WEST_1}}


def test_the_fixed_trust_policy_passes_again_on_the_same_server(
    server: RunningServer, tmp_path: Path
) -> None:
    """Reconciling goes both ways: the example after the broken variant is green again."""
    for path, summary, code in [
        (regional_read_only(tmp_path), "1 passed, 2 failed", 1),
        (EXAMPLES / "single-account.yaml", "3 passed, 0 failed", 0),
    ]:
        result = run("--aws", "server", "--endpoint-url", server.url, path)
        assert result.exit_code == code, result.output
        assert summary in result.stdout


# --- partial worlds, repeated runs, other resources -----------------------------------------------


def test_a_partly_provisioned_server_is_completed(server: RunningServer) -> None:
    """Only the provider and Admin exist: ReadOnly is created (this used to stop the run with
    `create role Admin …: EntityAlreadyExists`)."""
    provision_on(server.url, EXAMPLES / "single-account.yaml", keep=lambda name: name == "Admin")

    result = run("--aws", "server", "--endpoint-url", server.url, EXAMPLES / "single-account.yaml")

    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.stdout
    assert server_lines(result.stderr) == [f"created role {READ_ONLY}"]
    assert "EntityAlreadyExists" not in result.output


def test_an_empty_server_gets_the_whole_world(server: RunningServer) -> None:
    exchanger = ServerExchanger(
        load_scenario(EXAMPLES / "single-account.yaml"), server.url, report=lambda _: None
    )
    assert exchanger.changes == (
        f"created SAML provider {CORP}",
        f"created role {ADMIN}",
        f"created role {READ_ONLY}",
    )


def test_an_unchanged_scenario_changes_nothing(server: RunningServer) -> None:
    """Neither the first run after `sts serve --config` nor any later one changes the server."""
    provision_on(server.url, EXAMPLES / "single-account.yaml")
    iam = iam_client(server.url)
    before = [role_state(iam, "Admin"), role_state(iam, "ReadOnly"), provider_state(iam, CORP)]
    loaded = load_scenario(EXAMPLES / "single-account.yaml")
    reported: list[str] = []

    for _ in range(2):
        assert ServerExchanger(loaded, server.url, report=reported.append).changes == ()
    result = run("--aws", "server", "--endpoint-url", server.url, EXAMPLES / "single-account.yaml")

    assert reported == []
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert [
        role_state(iam, "Admin"),
        role_state(iam, "ReadOnly"),
        provider_state(iam, CORP),
    ] == before


def test_roles_and_providers_the_scenario_does_not_name_are_left_alone(
    server: RunningServer, tmp_path: Path
) -> None:
    provision_on(server.url, regional_read_only(tmp_path))
    iam = iam_client(server.url)
    iam.create_role(
        RoleName="Other",
        Path="/other/",
        MaxSessionDuration=7200,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": CORP},
                        "Action": "sts:AssumeRoleWithSAML",
                        "Condition": {"StringEquals": {"SAML:aud": EU_WEST_1}},
                    }
                ],
            }
        ),
        Tags=[{"Key": "fedharness:scenario", "Value": "someone-else"}],
    )
    iam.attach_role_policy(RoleName="Other", PolicyArn=READ_ONLY_ACCESS)
    iam.put_role_policy(
        RoleName="Other", PolicyName="reports", PolicyDocument=json.dumps(BUCKET_READ)
    )
    metadata = load_scenario(EXAMPLES / "single-account.yaml").provider.metadata().decode()
    other_idp = iam.create_saml_provider(
        Name="OtherIdP", SAMLMetadataDocument=metadata, AssertionEncryptionMode="Allowed"
    )["SAMLProviderArn"]
    elsewhere = iam_client(server.url, "222222222222")  # an account the scenario does not declare
    elsewhere.create_role(
        RoleName="Admin",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    before = [
        role_state(iam, "Other"),
        provider_state(iam, other_idp),
        role_state(elsewhere, "Admin"),
    ]

    result = run("--aws", "server", "--endpoint-url", server.url, EXAMPLES / "single-account.yaml")

    assert result.exit_code == 0, result.output
    assert server_lines(result.stderr) == [
        f"updated role {READ_ONLY}: trust policy replaced by the scenario's"
    ]
    assert [
        role_state(iam, "Other"),
        provider_state(iam, other_idp),
        role_state(elsewhere, "Admin"),
    ] == before
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == [
        "Admin",
        "Other",
        "ReadOnly",
    ]


# --- each part of a role and a provider ----------------------------------------------------------


def test_a_drifted_role_is_brought_to_the_scenario(server: RunningServer, tmp_path: Path) -> None:
    data = single_account()
    admin = account(data)["roles"]["Admin"]
    admin.update(
        max_session_duration=7200,
        tags={"team": "platform"},
        inline_policies={"reports": BUCKET_READ, "audit": BUCKET_READ},
    )
    path = write(tmp_path, data)
    provision_on(server.url, EXAMPLES / "single-account.yaml")
    iam = iam_client(server.url)
    iam.attach_role_policy(RoleName="Admin", PolicyArn=READ_ONLY_ACCESS)
    iam.put_role_policy(
        RoleName="Admin", PolicyName="stale", PolicyDocument=json.dumps(BUCKET_READ)
    )
    iam.put_role_policy(
        RoleName="Admin",
        PolicyName="audit",
        PolicyDocument=json.dumps(
            {**BUCKET_READ, "Statement": [{**BUCKET_READ["Statement"][0], "Effect": "Deny"}]}
        ),
    )
    iam.tag_role(RoleName="Admin", Tags=[{"Key": "owner", "Value": "nobody"}])
    loaded = load_scenario(path)

    changes = ServerExchanger(loaded, server.url, report=lambda _: None).changes

    assert sorted(changes) == sorted(
        f"updated role {ADMIN}: {change}"
        for change in [
            "MaxSessionDuration 3600 → 7200",
            "tag team=platform",
            "untagged owner (was nobody)",
            f"detached {READ_ONLY_ACCESS}",
            "put inline policy reports",
            "replaced inline policy audit",
            "deleted inline policy stale",
        ]
    )
    state = role_state(iam, "Admin")
    assert state["MaxSessionDuration"] == 7200
    assert state["Tags"] == {**MANAGED, "team": "platform"}
    assert state["Managed"] == [ADMIN_ACCESS]
    assert state["Inline"] == {"reports": BUCKET_READ, "audit": BUCKET_READ}
    assert ServerExchanger(loaded, server.url, report=lambda _: None).changes == ()


def test_a_role_on_another_path_is_made_again(server: RunningServer, tmp_path: Path) -> None:
    """IAM cannot move a role: the scenario's role replaces the one of the same name."""
    data = single_account()
    account(data)["roles"]["Admin"]["path"] = "/federated/"
    data["idp"]["mapping"]["explicit"]["groups"]["aws-prod-admins"] = [
        f"arn:aws:iam::{ACCOUNT}:role/federated/Admin"
    ]
    expect = data["expect"]["alice"]
    expect["roles"][0] = expect["session"]["role"] = expect["can"][0]["role"] = (
        f"arn:aws:iam::{ACCOUNT}:role/federated/Admin"
    )
    provision_on(server.url, EXAMPLES / "single-account.yaml")

    result = run("--aws", "server", "--endpoint-url", server.url, write(tmp_path, data))

    assert result.exit_code == 0, result.output
    assert server_lines(result.stderr) == [
        f"replaced role {ADMIN} with arn:aws:iam::{ACCOUNT}:role/federated/Admin: "
        "path / → /federated/ (IAM cannot change a role's path)"
    ]
    assert role_state(iam_client(server.url), "Admin")["Managed"] == [ADMIN_ACCESS]


def test_a_provider_gets_the_scenarios_metadata_keys_and_encryption(
    server: RunningServer, tmp_path: Path
) -> None:
    other = single_account()
    other["idp"]["entity_id"] = "https://old-idp.corp.example/saml"
    provision_on(server.url, write(tmp_path, other, "old-idp.yaml"))
    iam = iam_client(server.url)
    iam.update_saml_provider(
        SAMLProviderArn=CORP, AddPrivateKey=(CERTS / "sample-idp-next.key").read_text()
    )
    data = single_account()
    account(data)["saml_providers"]["CorpIdP"] = {
        "metadata": "from-idp",
        "encryption": {"mode": "Required", "private_keys": [str(CERTS / "sample-sp.key")]},
        "tags": {"team": "identity"},
    }
    loaded = load_scenario(write(tmp_path, data))
    uuid = iam.get_saml_provider(SAMLProviderArn=CORP)["SAMLProviderUUID"]

    changes = ServerExchanger(loaded, server.url, report=lambda _: None).changes

    sp_key = private_key_id((CERTS / "sample-sp.key").read_bytes())
    next_key = private_key_id((CERTS / "sample-idp-next.key").read_bytes())
    assert changes == tuple(
        f"updated SAML provider {CORP}: {change}"
        for change in [
            "metadata",
            f"added private key {sp_key}",
            f"removed private key {next_key}",
            "AssertionEncryptionMode none → Required",
            "tag team=identity",
        ]
    )
    state = provider_state(iam, CORP)
    assert state["SAMLMetadataDocument"] == loaded.provider.metadata().decode()
    assert state["AssertionEncryptionMode"] == "Required"
    assert [key["KeyId"] for key in state["PrivateKeyList"]] == [sp_key]
    assert state["SAMLProviderUUID"] == uuid
    assert ServerExchanger(loaded, server.url, report=lambda _: None).changes == ()


def test_a_provider_iam_cannot_update_so_is_made_again(
    server: RunningServer, tmp_path: Path
) -> None:
    """Encryption cannot be unset and a SAMLProviderUUID cannot change: delete, create."""
    encrypted = single_account()
    account(encrypted)["saml_providers"]["CorpIdP"] = {
        "encryption": {"mode": "Allowed", "private_keys": [str(CERTS / "sample-sp.key")]},
    }
    provision_on(server.url, write(tmp_path, encrypted, "encrypted.yaml"))
    iam = iam_client(server.url)
    uuid = iam.get_saml_provider(SAMLProviderArn=CORP)["SAMLProviderUUID"]

    plain = load_scenario(EXAMPLES / "single-account.yaml")
    assert ServerExchanger(plain, server.url, report=lambda _: None).changes == (
        f"replaced SAML provider {CORP}: AssertionEncryptionMode Allowed → none "
        "(IAM cannot unset it)",
    )
    state = provider_state(iam, CORP)
    assert "AssertionEncryptionMode" not in state and "PrivateKeyList" not in state
    assert state["SAMLProviderUUID"] == uuid  # kept: the scenario fixes none

    fixed = single_account()
    account(fixed)["saml_providers"]["CorpIdP"]["uuid"] = "FEDHARNESSTESTUUID0000000001"
    changes = ServerExchanger(
        load_scenario(write(tmp_path, fixed)), server.url, report=lambda _: None
    ).changes
    assert changes == (
        f"replaced SAML provider {CORP}: SAMLProviderUUID {uuid} → FEDHARNESSTESTUUID0000000001 "
        "(IAM cannot change it)",
    )
    assert provider_state(iam, CORP)["SAMLProviderUUID"] == "FEDHARNESSTESTUUID0000000001"
    result = run("--aws", "server", "--endpoint-url", server.url, EXAMPLES / "single-account.yaml")
    assert result.exit_code == 0, result.output


def test_changes_are_reported_on_stderr_by_default(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_scenario(EXAMPLES / "single-account.yaml")
    ServerExchanger(loaded, server.url)
    iam_client(server.url).update_role(RoleName="Admin", MaxSessionDuration=43200)

    ServerExchanger(loaded, server.url)

    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        f"server {server.url}: updated role {ADMIN}: MaxSessionDuration 43200 → 3600"
    )


@pytest.mark.slow
def test_parallel_workers_reconcile_one_after_another(
    serve_config: Callable[[Path], str], tmp_path: Path
) -> None:
    """`run --jobs 3`: each worker process reconciles, in turn; the first changes the server,
    the others find it done (they used to race: two creates, two detaches)."""
    url = serve_config(EXAMPLES / "single-account.yaml")
    command = [
        sys.executable,
        "-m",
        "scenarios.cli",
        "run",
        "--aws",
        "server",
        "--endpoint-url",
        url,
        "--jobs",
        "3",
        str(regional_read_only(tmp_path)),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **ENV},
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 2 failed" in done.stdout
    assert server_lines(done.stderr) == [
        f"updated role {READ_ONLY}: trust policy replaced by the scenario's"
    ]
