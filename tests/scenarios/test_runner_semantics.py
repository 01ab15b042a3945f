"""What a run means, found by an audit: no false green from an expectation without ``roles:``,
from users no expectation covers, from empty or tied ``expect:`` entries, from role tags left
out of ``aws:PrincipalTag``; ``cannot`` for a user without a role; scenario files named on the
pytest command line.

Each audit file is under ``tests/data/scenarios/semantics/`` (its first lines say what it
shows) and goes through ``fedharness run``; findings 1 and 2 also through the pytest plugin.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from scenarios.cli import main
from tests.conftest import CERTS, DATA, EXAMPLES, ROOT
from tests.scenarios.test_pytest_plugin import PLUGIN

pytest_plugins = ["pytester"]

SEMANTICS = DATA / "scenarios" / "semantics"
A = "arn:aws:iam::111111111111:role/"
ADMIN = A + "Admin"
READ_ONLY = A + "ReadOnly"
CAROL = "    carol: {email: carol@corp.example, groups: [aws-prod-admins]}"


def run(*args: str | Path, columns: int = 250) -> Result:
    """Run ``fedharness run ARGS…`` wide enough that no message wraps."""
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "FORCE_COLOR": None}
    return CliRunner(env=env).invoke(main, ["run", *map(str, args)])


def text_of(name: str) -> str:
    """Return an audit file's text with the certificate paths made absolute."""
    return (SEMANTICS / f"{name}.yaml").read_text().replace("../../../../certs/", f"{CERTS}/")


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """Write an audit file to ``tmp_path`` with each (old, new) replaced (old must occur)."""
    text = text_of(name)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, start: str) -> int:
    """Return the 1-based line of ``path`` that starts with ``start``."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(start))


# --- 1. an expectation without roles: allows only the roles it names --------------------------


def test_error_expectation_without_roles_fails_on_an_unnamed_role() -> None:
    result = run(SEMANTICS / "error-role-hides-admin.yaml")
    assert result.exit_code == 1, result.output
    assert (
        f"✗ bob [roles] unexpected role {ADMIN} (not named; the expectation has no 'roles:')"
        in result.stdout
    )
    assert "1 passed, 1 failed" in result.stdout


def test_group_error_expectation_catches_the_contractor_leak() -> None:
    result = run(SEMANTICS / "many-groups-contractor-leak.yaml")
    assert result.exit_code == 1, result.output
    leaked = "arn:aws:iam::444444444444:role/proj-01-developer"
    for user in ("fay", "gus"):
        assert f"✗ {user} [roles] unexpected role {leaked}" in result.stdout
    assert "4 passed, 2 failed" in result.stdout


def test_shipped_many_groups_example_still_passes() -> None:
    result = run(EXAMPLES / "many-groups.yaml")
    assert result.exit_code == 0, result.output
    assert "6 passed, 0 failed" in result.stdout


def test_roles_named_by_session_can_and_cannot_are_allowed(tmp_path: Path) -> None:
    # bob's ReadOnly is refused as expected; the Admin he also gets is named by session.role.
    named = variant(
        tmp_path,
        "error-role-hides-admin",
        (
            f"error: {{code: AccessDenied, role: {READ_ONLY}}}",
            f"error: {{code: AccessDenied, role: {READ_ONLY}}}\n    session: {{role: {ADMIN}}}",
        ),
    )
    assert run(named).exit_code == 0
    by_cannot = variant(
        tmp_path,
        "error-role-hides-admin",
        (
            f"error: {{code: AccessDenied, role: {READ_ONLY}}}",
            f"error: {{code: AccessDenied, role: {READ_ONLY}}}\n"
            f"    cannot: [{{action: s3:DeleteBucket, resource: '*', role: {ADMIN}}}]",
        ),
    )
    assert run(by_cannot).exit_code == 0


def test_error_without_a_role_fails_on_any_role_assumed(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "error-role-hides-admin",
        (f"error: {{code: AccessDenied, role: {READ_ONLY}}}", "error: {code: AccessDenied}"),
    )
    result = run(path)
    assert result.exit_code == 1
    assert f"✗ bob [roles] unexpected role {ADMIN}" in result.stdout
    assert f"✗ bob [error] expected AccessDenied for {ADMIN} but got credentials" in result.stdout


def test_plugin_fails_an_error_expectation_that_hides_a_role(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    path = pytester.makefile(".scenario.yaml", hides=text_of("error-role-hides-admin"))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"{path}:{line_of(path, '  bob:')}: expect.bob does not hold for bob",
            f"  roles: unexpected role {ADMIN} (not named; the expectation has no 'roles:')",
            "FAILED hides.scenario.yaml::bob - *",
        ]
    )


# --- 2. every user is issued; uncovered users with a role fail; empty expect: is bad input ----


def test_uncovered_user_with_a_role_fails_the_run(tmp_path: Path) -> None:
    result = run(
        SEMANTICS / "uncovered.yaml",
        "--json",
        tmp_path / "r.json",
        "--junit",
        tmp_path / "r.xml",
    )
    assert result.exit_code == 1, result.output
    assert f"✗ carol [uncovered] no expectation covers carol, who assumes {ADMIN}" in result.stdout
    assert "(no expectation)" in result.stdout  # the table's expectation column
    assert "2 passed, 1 failed" in result.stdout
    assert "note:" not in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is False
    (scenario,) = report["scenarios"]
    assert scenario["uncovered_users"] == ["carol"]
    carol = scenario["users"][2]
    assert (carol["user"], carol["expect"], carol["covered"], carol["passed"]) == (
        "carol",
        None,
        False,
        False,
    )
    assert carol["assumed"] == [ADMIN]  # her assertion was issued and exchanged
    suite = etree.parse(str(tmp_path / "r.xml")).getroot()[0]
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    (failed,) = [case for case in suite.iter("testcase") if len(case)]
    assert failed.get("name") == "carol [no expectation]"
    assert failed[0].get("type") == "uncovered"


def test_uncovered_user_without_a_role_is_a_note(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "uncovered",
        (CAROL, "    carol: {email: carol@corp.example, groups: []}"),
    )
    result = run(path, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "note: no expectation covers carol (no role assumed)" in result.stdout
    assert "2 passed, 0 failed" in result.stdout
    (scenario,) = json.loads((tmp_path / "r.json").read_text())["scenarios"]
    assert [u["user"] for u in scenario["users"]] == ["alice", "bob"]
    assert scenario["uncovered_users"] == ["carol"]


def test_uncovered_user_fails_with_several_jobs_too() -> None:
    result = run(SEMANTICS / "uncovered.yaml", "--jobs", "2")
    assert result.exit_code == 1, result.output
    assert f"✗ carol [uncovered] no expectation covers carol, who assumes {ADMIN}" in result.stdout
    assert "2 passed, 1 failed" in result.stdout


def test_uncovered_user_the_idp_cannot_issue_for_is_bad_input(tmp_path: Path) -> None:
    # The default RoleSessionName is {email}; dave has none, and a run issues his assertion.
    path = variant(
        tmp_path,
        "uncovered",
        (CAROL, CAROL + "\n    dave: {groups: [aws-prod-admins]}"),
    )
    result = run(path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}:{line_of(path, '    dave:')}: ")
    assert "a run issues every user's assertion" in result.stderr


def test_scenario_without_expect_is_bad_input() -> None:
    path = SEMANTICS / "empty-expect.yaml"
    result = run(path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: {path}:1: the scenario has no expectations, so a run would check nobody"
    )


def test_empty_expect_mapping_is_bad_input_at_its_line(tmp_path: Path) -> None:
    text = text_of("empty-expect") + "expect: {}\n"
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    result = run(path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}:{line_of(path, 'expect:')}: the scenario has")


def test_group_without_members_is_bad_input() -> None:
    path = SEMANTICS / "empty-group.yaml"
    result = run(path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"error: {path}:{line_of(path, '  group:contractors:')}: "
        "expect.\"group:contractors\": the group 'contractors' has no members"
    )


def test_plugin_has_an_item_per_uncovered_user(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    path = pytester.makefile(".scenario.yaml", uncovered=text_of("uncovered"))
    result = pytester.runpytest(*PLUGIN, "-v")
    result.assert_outcomes(passed=2, failed=1)
    line = line_of(path, "    carol:")
    result.stdout.fnmatch_lines(
        [
            f"{path}:{line}: no expectation covers carol, who assumes a role",
            f"  uncovered: no expectation covers carol, who assumes {ADMIN}",
            "FAILED uncovered.scenario.yaml::carol[[]uncovered[]] - *",
        ]
    )


def test_plugin_passes_an_uncovered_user_without_a_role(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    text = text_of("uncovered").replace("groups: [aws-prod-admins]}", "groups: []}")
    pytester.makefile(".scenario.yaml", quiet=text)
    result = pytester.runpytest(*PLUGIN, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["quiet.scenario.yaml::carol[[]uncovered[]] PASSED*"])


@pytest.mark.parametrize("name", ["empty-expect", "empty-group"])
def test_plugin_refuses_a_scenario_that_checks_nobody(pytester: pytest.Pytester, name: str) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makefile(".scenario.yaml", nobody=text_of(name))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting nobody.scenario.yaml*"])
    assert "no expectations" in result.stdout.str() or "has no members" in result.stdout.str()


# --- 3. aws:PrincipalTag holds the role's tags, then the session's ----------------------------


def test_permission_checks_see_the_role_tags() -> None:
    result = run(SEMANTICS / "perm-role-tags.yaml")
    assert result.exit_code == 1, result.output
    assert (
        f"✗ bob [permission] {A}Finance cannot s3:PutObject on arn:aws:s3:::finance/x.csv: "
        "allowed: statement 0" in result.stdout
    )


def test_can_holds_through_a_role_tag(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        "perm-role-tags",
        ("    cannot: [{action: s3:PutObject", "    can: [{action: s3:PutObject"),
    )
    assert run(path).exit_code == 0


def test_a_session_tag_replaces_a_role_tag_of_any_case(tmp_path: Path) -> None:
    # The role says Team=finance; the assertion's session tag team=ops wins: PutObject is denied.
    path = variant(
        tmp_path,
        "perm-role-tags",
        (
            "  mapping:",
            "  attributes: {principal_tags: {team: ops}}\n  mapping:",
        ),
        ("tags: {team: finance}", "tags: {Team: finance}"),
        (
            "trusts: CorpIdP\n          tags",
            "trusts: {provider: CorpIdP, actions: [sts:AssumeRoleWithSAML, sts:TagSession]}\n"
            "          tags",
        ),
    )
    result = run(path)
    assert result.exit_code == 0, result.output
    allowed = run(
        variant(
            tmp_path,
            "perm-role-tags",
            ("  mapping:", "  attributes: {principal_tags: {TEAM: finance}}\n  mapping:"),
            ("tags: {team: finance}", "tags: {team: ops}"),
            (
                "trusts: CorpIdP\n          tags",
                "trusts: {provider: CorpIdP, actions: [sts:AssumeRoleWithSAML, sts:TagSession]}\n"
                "          tags",
            ),
        )
    )
    assert allowed.exit_code == 1, allowed.output  # the session's TEAM=finance allows it
    assert "allowed: statement 0" in allowed.stdout


# --- 4. two group (or pattern) entries that disagree about a user -----------------------------


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("group-tie", "group:aws-prod-readers", "group:platform-team"),
        ("group-tie2", "group:engineering", "group:aws-prod-admins"),
    ],
)
def test_disagreeing_group_entries_are_bad_input(name: str, first: str, second: str) -> None:
    path = SEMANTICS / f"{name}.yaml"
    result = run(path)
    assert result.exit_code == 2, result.output
    one, two = line_of(path, f"  {first}:"), line_of(path, f"  {second}:")
    assert result.stderr == (
        f"error: {path}:{two}: alice matches expect.{first} (line {one}) and expect.{second} "
        f"(line {two}); give alice their own entry or make them agree\n"
    )


def test_swapping_the_tied_lines_is_refused_too(tmp_path: Path) -> None:
    text = text_of("group-tie2")
    lines = text.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith("  group:engineering:"))
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    path = tmp_path / "swapped.yaml"
    path.write_text("".join(lines))
    result = run(path)
    assert result.exit_code == 2, result.output
    assert "alice matches expect.group:aws-prod-admins" in result.stderr


def test_agreeing_group_entries_are_fine(tmp_path: Path) -> None:
    # alice is in platform-team and (through it) aws-prod-readers: both entries now agree.
    both = f"{{roles: [{ADMIN}, {READ_ONLY}]}}"
    path = variant(
        tmp_path,
        "group-tie",
        (f"group:aws-prod-readers: {{roles: [{READ_ONLY}]}}", f"group:aws-prod-readers: {both}"),
    )
    result = run(path)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:3] for line in result.stdout.splitlines()]
    assert ["pass", "alice", "expect.group:aws-prod-readers"] in rows


def test_disagreeing_patterns_are_bad_input(tmp_path: Path) -> None:
    tied = tmp_path / "tied.yaml"
    tied.write_text(
        text_of("uncovered") + f"  '*': {{roles: []}}\n  'car*': {{roles: [{ADMIN}]}}\n"
    )
    result = run(tied)
    assert result.exit_code == 2, result.output
    star, car = line_of(tied, "  '*'"), line_of(tied, "  'car*'")
    assert result.stderr == (
        f"error: {tied}:{car}: carol matches expect.* (line {star}) and expect.car* "
        f"(line {car}); give carol their own entry or make them agree\n"
    )


# --- 5. cannot holds for a user without a role; can does not ----------------------------------


def test_cannot_holds_for_a_user_without_a_role() -> None:
    result = run(SEMANTICS / "cannot-no-role.yaml")
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.stdout


def test_can_fails_for_a_user_without_a_role(tmp_path: Path) -> None:
    path = variant(tmp_path, "cannot-no-role", ("    cannot: [{action", "    can: [{action"))
    result = run(path)
    assert result.exit_code == 1, result.output
    assert (
        "✗ bob [permission] can s3:PutObject on arn:aws:s3:::reports/q3.csv: no role assumed"
        in result.stdout
    )


# --- 6. a scenario file named on the pytest command line ---------------------------------------


def test_plugin_collects_a_scenario_named_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    text = (ROOT / "scenarios" / "failing" / "admin-leak.yaml").read_text()
    pytester.makefile(".yaml", **{"admin-leak": text.replace("../../certs/", f"{CERTS}/")})
    result = pytester.runpytest(*PLUGIN, "admin-leak.yaml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"  roles: unexpected role {ADMIN}", "FAILED admin-leak.yaml::bob*"]
    )
    # Not named: a plain .yaml in a folder is not collected (only *.scenario.yaml is).
    pytester.runpytest(*PLUGIN, ".").assert_outcomes()


def test_plugin_explains_a_yaml_file_that_is_no_scenario(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makefile(".yml", dependabot="version: 2\nupdates: []\n")
    result = pytester.runpytest(*PLUGIN, "dependabot.yml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*dependabot.yml: not a fedharness scenario (no top-level 'name' and 'idp'); *"]
    )
    assert "not found" not in result.stdout.str()
