"""`fedharness run FOLDER`: which YAML files under the folder are scenarios, and what is said about
the others."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from scenarios.cli import looks_like_scenario, main
from tests.conftest import CERTS, EXAMPLES

COMPOSE = "name: demo\nservices:\n  sts:\n    image: fedharness\n    command: [fedharness, sts]\n"


def run(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"}).invoke(main, ["run", *map(str, args)])


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """The walkthrough's folder: the single-account example with its directory in
    ``dir/users.yaml`` (``directory: {file: …}``), next to a docker-compose.yml."""
    scenario = yaml.safe_load((EXAMPLES / "single-account.yaml").read_text())
    scenario["idp"]["signing"] = {
        "key": str(CERTS / "sample-idp.key"),
        "cert": str(CERTS / "sample-idp.crt"),
    }
    folder = tmp_path / "shared"
    (folder / "dir").mkdir(parents=True)
    (folder / "dir" / "users.yaml").write_text(yaml.safe_dump(scenario["directory"]))
    scenario["directory"] = {"file": "dir/users.yaml"}
    (folder / "single-account.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    (folder / "docker-compose.yml").write_text(COMPOSE)
    return folder


def test_a_directory_file_and_other_yaml_are_skipped_and_said(shared: Path) -> None:
    result = run(shared)
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.stdout
    assert result.stderr == (
        f"skipped 2 YAML files that are not scenarios: {shared / 'dir' / 'users.yaml'}, "
        f"{shared / 'docker-compose.yml'}\n"
    )


def test_a_malformed_scenario_in_a_folder_still_fails_at_its_line(shared: Path) -> None:
    text = (shared / "single-account.yaml").read_text()
    (shared / "single-account.yaml").write_text(text.replace("name: single-account\n", ""))
    result = run(shared)
    assert result.exit_code == 2, result.output
    assert f"error: {shared / 'single-account.yaml'}:1: missing required field 'name'" in (
        result.stderr
    )


def test_a_scenario_after_an_empty_first_document_fails_at_its_line(shared: Path) -> None:
    """Skipped, such a file let the run pass, though running it alone is an error."""
    scenario = (shared / "single-account.yaml").read_text()
    (shared / "second.yaml").write_text("--- # x\n...\n---\n" + scenario)
    result = run(shared)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"skipped 2 YAML files that are not scenarios: {shared / 'dir' / 'users.yaml'}, "
        f"{shared / 'docker-compose.yml'}\n"
        f"error: {shared / 'second.yaml'}:3: invalid YAML: found another document"
    )


def test_a_folder_without_a_scenario_is_an_error(shared: Path) -> None:
    result = run(shared / "dir")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: no scenario files found in {shared / 'dir'} (skipped 1 YAML file that is not "
        f"a scenario: {shared / 'dir' / 'users.yaml'})\n"
    )


def test_a_file_named_on_the_command_line_is_always_a_scenario(shared: Path) -> None:
    result = run(shared / "dir" / "users.yaml")
    assert result.exit_code == 2, result.output
    assert "users.yaml:1: missing required field 'name'" in result.stderr


def test_the_examples_run_every_scenario_and_skip_nothing() -> None:
    result = run(EXAMPLES)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    names = sorted(path.stem for path in EXAMPLES.glob("*.yaml"))
    headers = [line.split()[0] for line in result.stdout.splitlines() if "  (" in line]
    assert headers == names


@pytest.mark.parametrize(
    ("text", "is_scenario"),
    [
        ("name: x\nidp: {}\n", True),
        ("# a comment first\nexpect: {alice: {roles: []}}\n", True),
        ("idp: {}\ndirectory: {}\naws: {}\n", True),
        ("description: d\nsts: {allow_sha1: true}\n", True),
        ("base: &base {name: x, idp: {}}\n<<: *base\n", True),
        ("users: [alice\n", True),
        (b"\xff: x\n", True),
        ("users:\n  alice: {groups: [a]}\ngroups:\n  a: {member_of: []}\n", False),
        (COMPOSE, False),
        ("name: ci\non: [push]\njobs:\n  test: {steps: [{name: idp, run: make}]}\n", False),
        ("idp:\n  entity_id: https://idp.example\ndirectory: {}\n", False),
        ("users: {expect: {}, idp: {}}\n", False),
        ("- name: x\n- idp: {}\n", False),
        ("", False),
        ("just text\n", False),
        ("kind: A\n---\nname: x\nidp: {}\n", True),
        ("--- # x\n...\n---\nname: x\nidp: {}\n", True),
        ("- a\n---\n", False),
        ("kind: Service\n---\nkind: Deployment\nspec: {replicas: 2}\n", False),
        ("users: {}\n...\n# the end\n", False),
    ],
    ids=[
        "name-and-idp",
        "expect",
        "aws",
        "sts",
        "merge-key",
        "syntax-error-is-reported-by-loading",
        "not-utf8-is-reported-by-loading",
        "directory-file",
        "docker-compose",
        "ci-workflow",
        "idp-file",
        "scenario-keys-nested",
        "top-level-list",
        "empty",
        "scalar",
        "second-document-is-reported-by-loading",
        "empty-first-document",
        "trailing-empty-document",
        "kubernetes-manifests",
        "document-end-marker-alone",
    ],
)
def test_which_yaml_files_look_like_scenarios(
    tmp_path: Path, text: str | bytes, is_scenario: bool
) -> None:
    path = tmp_path / "file.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    assert looks_like_scenario(path) is is_scenario
