"""Bad input to the scenario commands (run, plan, explain, attack, aws, inspect) and the pytest
plugin: one line, exit status 2, never a traceback; and the text reports' layout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from idp.config import IdpFile
from idp.yamlfile import MAX_NESTING
from scenarios.cli import main
from scenarios.model import Scenario
from tests.conftest import CERTS, EXAMPLES, ROOT

pytest_plugins = ["pytester"]

NESTING_ERROR = f"nesting too deep (more than {MAX_NESTING} levels)"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
NOT_STS = "is it 'fedharness sts serve'?"
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}


def invoke(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner(env=ENV).invoke(main, [str(a) for a in args], input=stdin)


def assert_bad_input(result: Result, message: str) -> None:
    """Exit status 2, no traceback, and exactly ``error: message`` on stderr."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == f"error: {message}"


def scenario_text(directory_key: str = "directory") -> str:
    return f"""\
name: errors
idp:
  entity_id: https://idp.corp.example/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: [{ADMIN}]}}
{directory_key}:
  users:
    alice: {{email: alice@corp.example, groups: [admins]}}
aws:
  accounts:
    "111111111111":
      saml_providers: {{CorpIdP: {{metadata: from-idp}}}}
      roles: {{Admin: {{trusts: CorpIdP}}}}
expect:
  alice: {{roles: [{ADMIN}]}}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario_text())
    return path


# --- 1. the built-in attack IdP never replaces a key pair -------------------------------------

ATTACK_IDP_COMMANDS = [
    pytest.param(("attack", "metadata"), id="attack-metadata"),
    # nothing listens on the target: no attack is sent before the key check fails
    pytest.param(
        ("attack", "run", "--target", "http://127.0.0.1:9/acs", "--accept-status", "302"),
        id="attack-run",
    ),
]


@pytest.mark.parametrize("command", ATTACK_IDP_COMMANDS)
def test_attack_idp_dir_keeps_an_existing_key(tmp_path: Path, command: tuple[str, ...]) -> None:
    (tmp_path / "idp.key").write_text("the key an SP trusts\n")
    result = invoke(*command, "--idp-dir", tmp_path)
    assert_bad_input(result, f"{tmp_path / 'idp.key'} exists; use --force to replace it")
    assert (tmp_path / "idp.key").read_text() == "the key an SP trusts\n"
    assert not (tmp_path / "idp.yaml").exists()


def test_attack_idp_dir_force_replaces_the_pair(tmp_path: Path) -> None:
    (tmp_path / "idp.crt").write_text("old\n")
    result = invoke("attack", "metadata", "--idp-dir", tmp_path, "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "idp.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("command", ATTACK_IDP_COMMANDS)
def test_attack_idp_dir_with_a_folder_for_the_key(tmp_path: Path, command: tuple[str, ...]) -> None:
    (tmp_path / "idp.key").mkdir()
    result = invoke(*command, "--idp-dir", tmp_path, "--force")
    assert_bad_input(result, f"{tmp_path / 'idp.key'} is a folder; it cannot be replaced by a file")


# --- 2. deep nesting, in every command that reads a file ----------------------------------------

DEEP_COMMANDS = [
    pytest.param(("run", "{}"), id="run"),
    pytest.param(("plan", "{}"), id="plan"),
    pytest.param(("explain", "{}", "--user", "alice"), id="explain"),
    pytest.param(("idp", "assertion", "--config", "{}", "--user", "alice"), id="idp-assertion"),
    pytest.param(("idp", "metadata", "--config", "{}"), id="idp-metadata"),
    pytest.param(
        ("attack", "make", "control", "--config", "{}", "--user", "alice"), id="attack-make"
    ),
    pytest.param(("attack", "metadata", "--config", "{}"), id="attack-metadata"),
    pytest.param(("inspect", "--config", "{}", "-"), id="inspect"),
    pytest.param(("aws", "apply", "{}"), id="aws-apply"),
    pytest.param(("aws", "destroy", "{}"), id="aws-destroy"),
]


@pytest.mark.parametrize("command", DEEP_COMMANDS)
def test_deep_nesting_is_one_line_in_every_command(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 1_000 + "]" * 1_000 + "\n")
    result = invoke(*(str(path) if part == "{}" else part for part in command), stdin="x")
    assert_bad_input(result, f"{path}:1: {NESTING_ERROR}")


def _plugin_name() -> str:
    for entry_point in entry_points(group="pytest11"):
        if entry_point.value == "scenarios.pytest_plugin":
            return entry_point.name
    return "scenarios.pytest_plugin"


def test_deep_nesting_is_one_collection_error_in_the_pytest_plugin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    path = pytester.makefile(".scenario.yaml", deep="name: " + "[" * 1_000 + "]" * 1_000)
    result = pytester.runpytest("-p", _plugin_name(), "-p", "no:hypothesispytest")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"{path}:1: {NESTING_ERROR}"])
    assert "Traceback" not in result.stdout.str()
    assert "RecursionError" not in result.stdout.str()


# --- 3. report files are checked before the run -------------------------------------------------


@pytest.mark.parametrize("option", ["--json", "--junit"])
def test_report_in_a_missing_folder_fails_before_running(scenario: Path, option: str) -> None:
    report = Path("/nonexistent/dir/r.out")
    result = invoke("run", scenario, option, report)
    assert_bad_input(result, f"{option} {report}: no such folder: {report.parent}")
    assert "passed" not in result.stdout  # nothing ran


def test_attack_run_report_in_a_missing_folder(tmp_path: Path) -> None:
    report = tmp_path / "missing" / "r.json"
    result = invoke(
        "attack",
        "run",
        "--target",
        "http://127.0.0.1:9/acs",
        "--accept-status",
        "302",
        "--idp-dir",
        tmp_path / "idp",
        "--json",
        report,
    )
    assert_bad_input(result, f"--json {report}: no such folder: {report.parent}")


# --- 4. --endpoint-url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["notaurl", "ftp://127.0.0.1:21", "http://", "http://x:99999"],
    ids=["no-scheme", "ftp", "no-host", "bad-port"],
)
def test_run_refuses_an_endpoint_that_is_not_a_url(scenario: Path, url: str) -> None:
    result = invoke("run", "--aws", "server", "--endpoint-url", url, scenario)
    assert_bad_input(
        result,
        f"--endpoint-url {url!r} is not an http:// or https:// URL with a "
        "host (e.g. http://127.0.0.1:5000)",
    )


@pytest.mark.parametrize(
    "command", [("aws", "apply"), ("aws", "destroy")], ids=["apply", "destroy"]
)
def test_aws_commands_refuse_an_endpoint_that_is_not_a_url(
    scenario: Path, command: tuple[str, ...]
) -> None:
    result = invoke(*command, "--endpoint-url", "notaurl", scenario)
    assert_bad_input(
        result,
        "--endpoint-url 'notaurl' is not an http:// or https:// URL with a "
        "host (e.g. http://127.0.0.1:5000)",
    )


class _NotAws(BaseHTTPRequestHandler):
    """A web server that is not STS: an HTML 404 page (or STS's XML to GetCallerIdentity only,
    when ``sts_probe_only`` is set, to get past the probe before a run)."""

    sts_probe_only = False

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.sts_probe_only and b"Action=GetCallerIdentity" in body:
            self._answer(200, "text/xml", b"<GetCallerIdentityResponse/>")
        else:
            self._answer(404, "text/html; charset=utf-8", b"<!doctype html><p>Not Found</p>")

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def html_server() -> Iterator[str]:
    yield from _serve(_NotAws)


@pytest.fixture
def html_after_probe_server() -> Iterator[str]:
    yield from _serve(type("NotAwsAfterProbe", (_NotAws,), {"sts_probe_only": True}))


def test_run_against_a_web_page_is_one_line(scenario: Path, html_server: str) -> None:
    result = invoke("run", "--aws", "server", "--endpoint-url", f"{html_server}/nope", scenario)
    assert_bad_input(
        result,
        f"{html_server}/nope does not answer like the strict STS (HTTP 404 text/html); {NOT_STS}",
    )


def test_run_turns_a_web_page_during_the_run_into_one_line(
    scenario: Path, html_after_probe_server: str
) -> None:
    url = html_after_probe_server
    result = invoke("run", "--aws", "server", "--endpoint-url", url, scenario)
    assert_bad_input(result, f"{url} sent an answer that is not AWS's XML; {NOT_STS}")


def test_aws_apply_against_a_web_page_is_one_line(scenario: Path, html_server: str) -> None:
    result = invoke("aws", "destroy", "--endpoint-url", html_server, scenario)
    assert_bad_input(
        result,
        f"{html_server} does not answer like AWS IAM and STS "
        "(HTTP 404 text/html); is it a moto server or an AWS proxy?",
    )


# --- 6. unknown top-level keys: the same words in every command ---------------------------------

TYPO_COMMANDS = [
    pytest.param(("run", "{}"), id="run"),
    pytest.param(("plan", "{}"), id="plan"),
    pytest.param(("idp", "assertion", "--config", "{}", "--user", "alice"), id="idp-assertion"),
    pytest.param(("idp", "metadata", "--config", "{}"), id="idp-metadata"),
    pytest.param(
        ("attack", "make", "control", "--config", "{}", "--user", "alice"), id="attack-make"
    ),
    pytest.param(("aws", "apply", "{}"), id="aws-apply"),
    pytest.param(("aws", "destroy", "{}"), id="aws-destroy"),
]


@pytest.mark.parametrize("command", TYPO_COMMANDS)
def test_a_misspelt_section_reads_the_same_everywhere(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(scenario_text(directory_key="directroy"))
    line = path.read_text().splitlines().index("directroy:") + 1
    result = invoke(*(str(path) if part == "{}" else part for part in command))
    assert_bad_input(result, f"{path}:{line}: unknown field 'directroy'; did you mean 'directory'?")


def test_the_idp_loader_knows_every_scenario_section() -> None:
    """IdpFile names the scenario's sections itself (idp may not import scenarios)."""
    assert list(IdpFile.model_fields) == list(Scenario.model_fields)


# --- 7. ADFS rule errors are reported at load, at their line ------------------------------------

ADFS_SCENARIO = """\
name: adfs
idp:
  entity_id: http://adfs.corp.example/adfs/services/trust
  signing: {{key: {key}, cert: {cert}}}
  mapping:
    adfs:
      rules: |
        @RuleName = "Name ID"
        c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
         => issue(store = "Active Directory", types = ({types}), query = "{query}",
                  param = c.Value);
directory:
  users:
    alice: {{email: alice@corp.example}}
expect:
  alice: {{roles: []}}
"""


@pytest.mark.parametrize(
    ("types", "query", "problem"),
    [
        (
            '"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"',
            ";mail;{5}",
            "query ';mail;{5}': {5} has no param (1 given)",
        ),
        (
            '"http://a", "http://b"',
            ";mail;{0}",
            "query ';mail;{0}' to attribute store 'Active Directory' returns 1 field(s) "
            "for 2 claim type(s) (ADFS fails the sign-in with POLICY0019)",
        ),
    ],
    ids=["param-missing", "types-vs-fields"],
)
@pytest.mark.parametrize(
    "command", [("run",), ("plan",), ("explain", "--user", "alice")], ids=["run", "plan", "explain"]
)
def test_adfs_query_errors_come_before_any_run(
    tmp_path: Path, command: tuple[str, ...], types: str, query: str, problem: str
) -> None:
    path = tmp_path / "adfs.yaml"
    path.write_text(
        ADFS_SCENARIO.format(
            key=CERTS / "sample-idp.key", cert=CERTS / "sample-idp.crt", types=types, query=query
        )
    )
    result = invoke(command[0], path, *command[1:])
    assert_bad_input(result, f"{path}:10: idp.mapping.adfs.rules:3:19: {problem}")


# --- 9. an empty file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("run",), ("aws", "apply"), ("aws", "destroy")],
    ids=["run", "aws-apply", "aws-destroy"],
)
def test_an_empty_file_reads_the_same_everywhere(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert_bad_input(
        invoke(*command, path),
        f"{path}:1: the file is empty; a scenario needs at least 'name' and 'idp'",
    )


# --- 10. inspect: the Role pairs under the Role attribute ---------------------------------------


def test_inspect_prints_the_role_pairs_under_the_role_attribute(tmp_path: Path) -> None:
    quickstart = EXAMPLES / "quickstart.yaml"
    issued = invoke("idp", "assertion", "--config", quickstart, "--user", "alice")
    assert issued.exit_code == 0, issued.output
    result = invoke("inspect", "--config", quickstart, "-", stdin=issued.stdout)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    role = next(i for i, line in enumerate(lines) if line.startswith("Role attribute (3 values)"))
    assert all(
        line.startswith("  arn:aws:iam::") and ": accepted — " in line
        for line in lines[role + 1 : role + 4]
    )
    assert lines[role + 4].startswith("RoleSessionName: ")
    assert any(line.startswith("PrincipalTag:") for line in lines[role + 4 :])


# --- 11. explain: each failure marked, as in run ------------------------------------------------


def test_explain_marks_each_failure_and_indents_its_wrapped_lines() -> None:
    result = invoke("explain", ROOT / "scenarios" / "failing" / "admin-leak.yaml", "--user", "bob")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  expect key bob"))
    checks = lines[start + 1 : -1]
    assert lines[-1] == "  expectation fails"
    marked = [line for line in checks if line.startswith("    ✗ ")]
    assert [line.split(":")[0] for line in marked] == ["    ✗ roles", "    ✗ roles"]
    assert "unexpected role arn:aws:iam::111111111111:role/Admin" in marked[0]
    assert "missing role arn:aws:iam::111111111111:role/ReadOnly" in marked[1]
    assert len(checks) > len(marked)  # the long refusal wraps at 100 columns …
    assert all(line.startswith(("    ✗ ", "    ✓ ", "      ")) for line in checks)  # … indented


def test_aws_apply_refuses_the_sample_key_at_the_line_that_names_it(scenario: Path) -> None:
    # No AWS call is made: the refusal comes first (ENV holds no real credentials).
    result = invoke("aws", "apply", scenario)
    assert_bad_input(
        result,
        f"{scenario}:4: idp.signing: the IdP signs with a sample certificate shipped in "
        "fedharness (its private key is public): generate your own with `fedharness certs "
        "generate` for live AWS",
    )
