"""The run report, plan matrix and inspect output outside a terminal (CI logs, pipes) and in one."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from scenarios.cli import main
from scenarios.exchange import open_exchanger
from scenarios.loader import load_scenario
from scenarios.plan import compute_matrix, matrix_table
from scenarios.report import print_report, writes_to_terminal
from scenarios.runner import ScenarioResult, run_scenario
from sp_fixtures.aws.inspect import inspect_response
from tests.conftest import CERTS, EXAMPLES, ROOT

MANY_GROUPS = EXAMPLES / "many-groups.yaml"
ADMIN_LEAK = ROOT / "scenarios" / "failing" / "admin-leak.yaml"
# Role and provider ARNs, whole: account:role/Name in the report, arn:aws:… in messages.
ARN = re.compile(r"(?:arn:aws:iam::)?\d{12}:(?:role|saml-provider)/[\w+=.@/-]+")


class TerminalFile(io.StringIO):
    """What a console writes to when a person reads it at the terminal."""

    def isatty(self) -> bool:
        return True


def run(path: Path) -> ScenarioResult:
    loaded = load_scenario(path)
    with open_exchanger(loaded) as exchanger:
        return run_scenario(loaded, exchanger)


@pytest.fixture(scope="module")
def results() -> list[ScenarioResult]:
    return [run(MANY_GROUPS), run(ADMIN_LEAK)]


def rendered(print_to: object, *, terminal: bool, width: int = 80) -> str:
    """Return what ``print_to(console)`` prints on a console ``width`` columns wide."""
    out = TerminalFile() if terminal else io.StringIO()
    # force_terminal: FORCE_COLOR, as CI jobs set it, must not make a log a terminal.
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    assert writes_to_terminal(console) is terminal
    print_to(console)  # type: ignore[operator]
    return out.getvalue()


def assert_greppable(text: str) -> None:
    assert [line for line in text.splitlines() if line != line.rstrip()] == []


def test_report_in_a_log_keeps_each_users_roles_whole_on_its_line(
    results: list[ScenarioResult],
) -> None:
    text = rendered(lambda console: print_report(console, results), terminal=False)
    assert_greppable(text)
    lines = text.splitlines()
    dana = next(line for line in lines if re.match(r"  pass +dana ", line))
    assumed = [
        a.split(":", 4)[4] for a in next(u for u in results[0].users if u.user == "dana").assumed
    ]
    assert len(assumed) == 13
    assert ARN.findall(dana) == assumed  # 444444444444:role/Reporting, not …/Reportin + g,
    assert re.search(r"^  pass +fay +expect\.group:contractors +-$", text, re.M)
    assert re.search(r"^  FAIL +bob +expect\.bob +111111111111:role/Admin$", text, re.M)


def test_report_in_a_log_keeps_each_failure_on_one_line(results: list[ScenarioResult]) -> None:
    text = rendered(lambda console: print_report(console, results), terminal=False)
    failure = next(line for line in text.splitlines() if "missing role" in line)
    assert failure.startswith(
        "  ✗ bob [roles] missing role arn:aws:iam::111111111111:role/ReadOnly"
    )
    assert "saml-provider/CorpIdP; statement 0" in failure
    assert failure.endswith("request had 'https://signin.aws.amazon.com/saml')")


def test_report_on_a_terminal_is_a_table_with_wrapped_failures(
    results: list[ScenarioResult],
) -> None:
    lines = rendered(lambda console: print_report(console, results), terminal=True).splitlines()
    assert any(re.match(r"│ dana +│ expect\.dana +│ 444444444444:role/", line) for line in lines)
    start = next(i for i, line in enumerate(lines) if "missing role" in line)
    assert lines[start].startswith("  ✗ bob [roles] missing role")
    continued = lines[start + 1 : start + 3]
    assert continued and all(line.startswith("    ") and line.strip() for line in continued)


def test_plan_in_a_log_tells_13_roles_apart() -> None:
    matrix = compute_matrix(load_scenario(MANY_GROUPS))
    text = rendered(lambda console: console.print(matrix_table(matrix)), terminal=False)
    assert_greppable(text)
    lines = text.splitlines()
    assert lines[0] == "many-groups: roles offered by the IdP (mapping only)"
    header = next(line for line in lines if "user" in line)
    labels = [cell.strip() for cell in header.strip("┃").split("┃")[1:]]
    assert labels == [str(n) for n in range(1, 14)]
    legend = dict(
        (m.group(1), m.group(2)) for m in map(re.compile(r" +(\d+)  (\S+)$").match, lines) if m
    )
    assert legend == {
        str(n): role.split(":", 4)[4] for n, role in enumerate(matrix.roles(), start=1)
    }
    dana = next(line for line in lines if line.startswith("│ dana"))
    assert dana.count("✓") == 13
    assert lines[-1] == "via arn:aws:iam::444444444444:saml-provider/CorpIdP"


def test_plan_headers_are_role_names_when_they_fit() -> None:
    matrix = compute_matrix(load_scenario(EXAMPLES / "single-account.yaml"))
    text = rendered(lambda console: console.print(matrix_table(matrix)), terminal=False)
    assert_greppable(text)
    header = next(line for line in text.splitlines() if "user" in line)
    assert "111111111111:role/Admin" in header and "111111111111:role/ReadOnly" in header
    assert not re.search(r"^ +\d+  ", text, re.M)  # no legend


def test_plan_splits_columns_that_do_not_fit_a_narrow_terminal() -> None:
    matrix = compute_matrix(load_scenario(MANY_GROUPS))
    text = rendered(lambda console: console.print(matrix_table(matrix)), terminal=True, width=40)
    assert max(len(line) for line in text.splitlines()) <= 40
    headers = [line for line in text.splitlines() if line.startswith("┃ user")]
    numbers = [cell.strip() for h in headers for cell in h.strip("┃").split("┃")[1:]]
    assert len(headers) > 1 and numbers == [str(n) for n in range(1, 14)]


LONG_USER = "oncall." + "x" * 68 + "@corp.example"


@pytest.mark.parametrize(
    ("example", "copies", "tables"),
    [("single-account.yaml", "alice", 1), ("many-groups.yaml", "dana", 2)],
    ids=["2-roles-one-table", "13-roles-split"],
)
def test_plan_in_a_log_wraps_a_long_user_name_and_shows_every_role(
    tmp_path: Path, example: str, copies: str, tables: int
) -> None:
    """An 88-character name at 80 columns once squeezed every role column to nothing."""
    scenario = yaml.safe_load((EXAMPLES / example).read_text())
    scenario["idp"]["signing"] = {
        key: str(CERTS / Path(path).name) for key, path in scenario["idp"]["signing"].items()
    }
    users = scenario["directory"]["users"]
    users[LONG_USER] = users[copies]  # the same groups: the same roles
    path = tmp_path / example
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    matrix = compute_matrix(load_scenario(path))
    assert len(LONG_USER) == 88 and matrix.users[LONG_USER] == matrix.users[copies]
    text = rendered(lambda console: console.print(matrix_table(matrix)), terminal=False)
    assert_greppable(text)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    headers = [line for line in lines if line.startswith("┃ user")]
    numbers = [cell.strip() for h in headers for cell in h.strip("┃").split("┃")[1:]]
    assert len(headers) == tables and numbers == [str(n) for n in range(1, len(matrix.roles()) + 1)]
    assert text.count("✓") == sum(len(roles) for roles in matrix.users.values())
    long_rows = [line for line in lines if line.startswith("│ oncall.")]
    assert len(long_rows) == tables
    assert sum(row.count("✓") for row in long_rows) == len(matrix.users[LONG_USER])
    first_table = lines[: lines.index(next(line for line in lines if line.startswith("└")))]
    user_cells = [line.split("│")[1].strip() for line in first_table if line.startswith("│")]
    assert LONG_USER in "".join(user_cells)  # wrapped in its column, not cut


def test_multi_provider_caption_breaks_between_arns() -> None:
    matrix = compute_matrix(load_scenario(EXAMPLES / "multi-account-org.yaml"))
    text = rendered(lambda console: console.print(matrix_table(matrix)), terminal=False)
    assert_greppable(text)
    caption = text.splitlines()[-3:]
    assert caption == [
        "via arn:aws:iam::111111111111:saml-provider/ADFS,",
        "    arn:aws:iam::222222222222:saml-provider/ADFS,",
        "    arn:aws:iam::333333333333:saml-provider/ADFS",
    ]


def test_inspect_in_a_pipe_keeps_every_xml_line_whole() -> None:
    config = str(EXAMPLES / "single-account.yaml")
    issued = CliRunner().invoke(main, ["idp", "assertion", "--config", config, "--user", "alice"])
    assert issued.exit_code == 0, issued.output
    env = {"COLUMNS": "80", "NO_COLOR": "1", "FORCE_COLOR": None}
    result = CliRunner(env=env).invoke(main, ["inspect"], input=issued.stdout)
    assert result.exit_code == 0, result.output
    assert_greppable(result.stdout)
    xml = inspect_response(issued.stdout).xml.rstrip("\n")
    assert max(len(line) for line in xml.splitlines()) > 80  # the signature, attributes
    assert result.stdout.startswith(xml + "\n")


def test_a_ci_log_gets_no_progress_bar_even_with_force_color(tmp_path: Path) -> None:
    # From 50 users a run shows a progress bar; its cursor codes must stay out of logs.
    text = (EXAMPLES / "single-account.yaml").read_text().replace("../../certs/", f"{CERTS}/")
    users = "".join(
        f"    user{i:02}: {{email: user{i:02}@corp.example, groups: [engineering]}}\n"
        for i in range(60)
    )
    text = text.replace("  groups:\n    platform-team:", users + "  groups:\n    platform-team:")
    text = text.replace(
        "  carol:\n    roles: []",
        "  carol:\n    roles: []\n  'user*':\n    roles: [arn:aws:iam::111111111111:role/ReadOnly]",
    )
    path = tmp_path / "many.yaml"
    path.write_text(text)
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "run", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "63 passed, 0 failed" in done.stdout
    assert "\x1b[?25l" not in done.stdout + done.stderr  # rich hides the cursor for a bar
    assert "running" not in done.stdout + done.stderr
