"""The pytest plugin, run with pytester: collection, failure reports, fixtures, pytest-xdist."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from moto import mock_aws

from sp_fixtures.aws.iam_view import MotoIam
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import StrictSts

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CERTS = ROOT / "certs"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
READ_ONLY = "arn:aws:iam::111111111111:role/ReadOnly"


def _plugin_name() -> str:
    """Return the name to give ``-p``: the entry point's once installed, else the module."""
    for entry_point in entry_points(group="pytest11"):
        if entry_point.value == "scenarios.pytest_plugin":
            return entry_point.name
    return "scenarios.pytest_plugin"


# hypothesis's plugin imports hypothesis afresh on every in-process run (about 2 s each).
PLUGIN = ("-p", _plugin_name(), "-p", "no:hypothesispytest")
IDS = (
    "single-account.scenario.yaml::alice",
    "single-account.scenario.yaml::bob",
    "single-account.scenario.yaml::carol[group:contractors]",
    "single-account.scenario.yaml::dave[group:contractors]",
)


def scenario(expect: str) -> str:
    """Return a scenario file: one account, Admin and ReadOnly, four users; then ``expect``."""
    return f"""\
name: plugin-test
idp:
  entity_id: https://idp.corp.example/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  attributes: {{role_session_name: "{{email}}"}}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups:
        aws-prod-admins: [{ADMIN}]
        aws-prod-readers: [{READ_ONLY}]
directory:
  users:
    alice: {{email: alice@corp.example, groups: [platform-team]}}
    bob: {{email: bob@corp.example, groups: [engineering]}}
    carol: {{email: carol@corp.example, groups: [contractors]}}
    dave: {{email: dave@corp.example, groups: [contractors]}}
  groups:
    platform-team: {{member_of: [aws-prod-admins, engineering]}}
    engineering: {{member_of: [aws-prod-readers]}}
    contractors: {{member_of: []}}
aws:
  accounts:
    "111111111111":
      saml_providers: {{CorpIdP: {{metadata: from-idp}}}}
      roles:
        Admin: {{trusts: CorpIdP}}
        ReadOnly: {{trusts: CorpIdP}}
expect:
{expect}"""


PASSING = scenario(f"""\
  alice: {{roles: [{ADMIN}, {READ_ONLY}]}}
  bob: {{roles: [{READ_ONLY}]}}
  group:contractors: {{roles: []}}
""")

USER_TESTS = f'''
import base64

import boto3
import pytest
from lxml import etree

ADMIN = "{ADMIN}"
PROVIDER = "arn:aws:iam::111111111111:saml-provider/CorpIdP"
SIGNATURE = "{{http://www.w3.org/2000/09/xmldsig#}}Signature"


def test_server_before(mock_idp, strict_sts_server):
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=strict_sts_server.url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    issued = mock_idp.issue("alice", role_arn=ADMIN)
    answer = sts.assume_role_with_saml(RoleArn=ADMIN, PrincipalArn=PROVIDER,
                                       SAMLAssertion=issued.saml_response)
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/alice@corp.example")
    strict_sts_server.check()


def test_exchange_with_boto3(mock_idp, aws_world, strict_sts):
    assert ADMIN in aws_world.roles and PROVIDER in aws_world.saml_providers
    issued = mock_idp.issue("alice", role_arn=ADMIN)
    answer = aws_world.client("sts").assume_role_with_saml(
        RoleArn=ADMIN, PrincipalArn=PROVIDER, SAMLAssertion=issued.saml_response)
    assert answer["Issuer"] == "https://idp.corp.example/saml"
    credentials = answer["Credentials"]
    me = boto3.client("sts", region_name="us-east-1",
                      aws_access_key_id=credentials["AccessKeyId"],
                      aws_secret_access_key=credentials["SecretAccessKey"],
                      aws_session_token=credentials["SessionToken"]).get_caller_identity()
    assert me["Arn"] == "arn:aws:sts::111111111111:assumed-role/Admin/alice@corp.example"


def test_unsigned_assertion_refused(mock_idp, strict_sts):
    response = etree.fromstring(mock_idp.issue("alice", role_arn=ADMIN).xml)
    for signature in list(response.iter(SIGNATURE)):
        signature.getparent().remove(signature)
    unsigned = base64.b64encode(etree.tostring(response)).decode()
    sts = boto3.client("sts", region_name="us-east-1")
    with pytest.raises(sts.exceptions.InvalidIdentityTokenException):
        sts.assume_role_with_saml(RoleArn=ADMIN, PrincipalArn=PROVIDER, SAMLAssertion=unsigned)


def test_server_after(mock_idp, strict_sts_server):
    test_server_before(mock_idp, strict_sts_server)
'''


@pytest.fixture
def single_account(pytester: pytest.Pytester) -> Path:
    pytester.makeini("[pytest]\n")
    return pytester.makefile(".scenario.yaml", **{"single-account": PASSING})


def test_collects_one_item_per_user_with_readable_ids(
    pytester: pytest.Pytester, single_account: Path
) -> None:
    result = pytester.runpytest(*PLUGIN, "-v")
    result.assert_outcomes(passed=4)
    for node_id in IDS:
        assert any(line.startswith(f"{node_id} PASSED") for line in result.outlines), node_id


def test_ini_patterns_choose_the_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfedharness_scenarios = checks/*.yaml\n")
    pytester.makefile(".scenario.yaml", ignored=PASSING)
    pytester.mkdir("checks")
    (pytester.path / "checks" / "prod.yaml").write_text(PASSING)
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        node_id.replace("single-account.scenario.yaml", "checks/prod.yaml") for node_id in IDS
    ]


def test_wrong_expectation_fails_with_the_check_message(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    path = pytester.makefile(
        ".scenario.yaml",
        wrong=scenario(f"""\
  alice: {{roles: [{READ_ONLY}]}}
  bob: {{roles: [{READ_ONLY}]}}
  group:contractors: {{roles: []}}
"""),
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3, failed=1)
    line = path.read_text().splitlines().index(f"  alice: {{roles: [{READ_ONLY}]}}") + 1
    result.stdout.fnmatch_lines(
        [
            f"{path}:{line}: expect.alice does not hold for alice",
            f"  roles: unexpected role {ADMIN}",
            "FAILED wrong.scenario.yaml::alice - *",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "pytest_items.py" not in result.stdout.str()


UNKNOWN_USER = PASSING.replace(f"  bob: {{roles: [{READ_ONLY}]}}", "  zed: {roles: []}")
BAD_SCENARIOS = [
    pytest.param(UNKNOWN_USER, "  zed:", "expect.zed: unknown user 'zed'", id="unknown-user"),
    pytest.param(
        PASSING.replace("name: plugin-test", "name: plugin-test\nnmae: typo"),
        "nmae: typo",
        "unknown field 'nmae'; did you mean 'name'?",
        id="unknown-key",
    ),
    pytest.param(
        PASSING.replace("  bob: {roles:", "  bob: {roles: [oops"),
        "  bob:",
        "invalid YAML: *",
        id="yaml-syntax",
    ),
    pytest.param(
        PASSING.replace(f"  bob: {{roles: [{READ_ONLY}]}}", "  bob: {roles: admin}"),
        "  bob:",
        "expect.bob.roles: Input should be a valid list",
        id="wrong-type",
    ),
]


@pytest.mark.parametrize(("text", "marker", "message"), BAD_SCENARIOS)
def test_bad_scenario_is_one_collection_error(
    pytester: pytest.Pytester, text: str, marker: str, message: str
) -> None:
    pytester.makeini("[pytest]\n")
    path = pytester.makefile(".scenario.yaml", bad=text)
    line = next(i for i, content in enumerate(text.splitlines(), 1) if content.startswith(marker))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting bad.scenario.yaml*", f"{path}:{line}: {message}"]
    )
    assert "Traceback" not in result.stdout.str()


def test_fixtures_in_users_own_tests(pytester: pytest.Pytester, single_account: Path) -> None:
    pytester.makeini("[pytest]\nfedharness_scenario = single-account.scenario.yaml\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*PLUGIN, "test_user.py")
    result.assert_outcomes(passed=4)


def test_iam_clients_made_before_strict_sts_meet_iams_checks(
    pytester: pytest.Pytester, single_account: Path
) -> None:
    # An audit found the first test's client (made by a fixture before `strict_sts`) unchecked:
    # boto3 clients copy their hooks when made, and the hooks were installed by strict_sts.
    pytester.makeini("[pytest]\nfedharness_scenario = single-account.scenario.yaml\n")
    pytester.makepyfile(
        test_order="""
import pytest

@pytest.fixture
def iam(aws_world):
    return aws_world.client("iam")

@pytest.mark.parametrize("n", [1, 2])
def test_bad_metadata_refused(iam, strict_sts, n):
    with pytest.raises(iam.exceptions.InvalidInputException):
        iam.create_saml_provider(Name=f"Bad{n}", SAMLMetadataDocument="x" * 2000)
"""
    )
    result = pytester.runpytest(*PLUGIN, "test_order.py")
    result.assert_outcomes(passed=2)


def test_scenario_path_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.mkdir("worlds")
    (pytester.path / "worlds" / "prod.yaml").write_text(PASSING)
    pytester.makeconftest("""
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fedharness_scenario_path():
    return Path(__file__).parent / "worlds" / "prod.yaml"
""")
    pytester.makepyfile("""
def test_idp(mock_idp, fedharness_scenario):
    assert fedharness_scenario.name == "plugin-test"
    assert mock_idp.issue("bob").user == "bob"
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


@pytest.mark.parametrize("fixture", ["mock_idp", "aws_world", "strict_sts", "strict_sts_server"])
def test_fixtures_error_without_a_scenario(pytester: pytest.Pytester, fixture: str) -> None:
    """A skip here left CI green (``1 skipped``, exit 0) with nothing tested."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(f"def test_idp({fixture}):\n    assert {fixture}\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*no scenario for the fedharness fixtures: set the ini option 'fedharness_scenario'*"
            "or override the session-scoped 'fedharness_scenario_path' fixture*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_bad_scenario_fails_fixture_users_without_traceback(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(".yaml", bad=UNKNOWN_USER)
    pytester.makeini("[pytest]\nfedharness_scenario = bad.yaml\n")
    pytester.makepyfile("def test_idp(mock_idp):\n    assert mock_idp\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    line = UNKNOWN_USER.splitlines().index("  zed: {roles: []}") + 1
    result.stdout.fnmatch_lines([f"*{path}:{line}: expect.zed: unknown user 'zed'*"])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


@pytest.fixture
def sts_server() -> Iterator[RunningServer]:
    with mock_aws():  # the server keeps moto's state in this process: start and end clean
        server = serve_in_thread(StrictStsApp(StrictSts(MotoIam())))
        try:
            yield server
        finally:
            server.stop()


def test_items_against_a_running_strict_sts(
    pytester: pytest.Pytester, single_account: Path, sts_server: RunningServer
) -> None:
    result = pytester.runpytest(
        *PLUGIN, "--fedharness-aws", "server", "--fedharness-endpoint-url", sts_server.url
    )
    result.assert_outcomes(passed=4)


def test_server_mode_needs_an_endpoint(pytester: pytest.Pytester, single_account: Path) -> None:
    result = pytester.runpytest(*PLUGIN, "--fedharness-aws", "server")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fedharness-aws server needs --fedharness-endpoint-url*"])


def test_runs_under_xdist(
    pytester: pytest.Pytester, single_account: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini("[pytest]\nfedharness_scenario = single-account.scenario.yaml\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-n", "2", "-v")
    result.assert_outcomes(passed=8)
    for worker in ("gw0", "gw1"):
        assert any(f"[{worker}]" in line and "PASSED" in line for line in result.outlines), worker
