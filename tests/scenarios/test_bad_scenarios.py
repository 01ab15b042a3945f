"""Bad scenario files: ``fedharness run`` says ``error: file:line: message`` on one line, exit 2.

Each file under ``tests/data/scenarios/bad/`` is the single-account example with one mistake; its
first line is ``# expect: LINE: start of the message``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.loader import load_scenario
from tests.conftest import CERTS, DATA, EXAMPLES, ROOT

BAD = sorted((DATA / "scenarios" / "bad").glob("*.yaml"))
_EXPECT = re.compile(rb"# expect: (\d+): (.+)")


def expected(path: Path) -> tuple[int, str]:
    """Return the line and message start that the file's first line promises."""
    first = path.read_bytes().split(b"\n", 1)[0]
    match = _EXPECT.fullmatch(first)
    assert match is not None, f"{path.name}: first line is not '# expect: LINE: message'"
    return int(match.group(1)), match.group(2).decode("utf-8")


def assert_one_line_error(path: Path, status: int, stderr: str) -> None:
    line, fragment = expected(path)
    assert "Traceback" not in stderr
    assert status == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"error: {path}:"), stderr
    assert f":{line}: {fragment}" in stderr, stderr
    assert stderr.startswith(f"error: {path}:{line}: {fragment}"), stderr


def test_there_are_at_least_30_kinds() -> None:
    assert len(BAD) >= 30
    assert len({path.name.split("-", 1)[1] for path in BAD}) == len(BAD)


@pytest.mark.parametrize("path", BAD, ids=[path.stem for path in BAD])
def test_bad_file_is_one_line_with_its_line(path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.stdout == ""
    assert_one_line_error(path, result.exit_code, result.stderr)


@pytest.mark.parametrize("name", ["01-yaml-syntax-error", "19-key-file-missing"])
def test_console_entry_reports_the_same(name: str) -> None:
    path = DATA / "scenarios" / "bad" / f"{name}.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "run", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.stdout == ""
    assert_one_line_error(path, done.returncode, done.stderr)


def test_group_cycle_is_allowed(tmp_path: Path) -> None:
    text = (EXAMPLES / "single-account.yaml").read_text()
    text = text.replace("../../certs/", f"{CERTS}/").replace(
        "engineering: {member_of: [aws-prod-readers]}",
        "engineering: {member_of: [aws-prod-readers, engineering-all]}\n"
        "    engineering-all: {member_of: [engineering]}",
    )
    path = tmp_path / "cycle.yaml"
    path.write_text(text)
    loaded = load_scenario(path)
    assert loaded.directory.cycles() == (("engineering", "engineering-all"),)
    assert loaded.expected_users() == ["alice", "bob", "carol"]


def test_a_missing_key_file_says_where_it_was_looked_for_and_how_to_make_one(
    tmp_path: Path,
) -> None:
    # The 30-second example copied out of the repository: its relative key path leads nowhere.
    copied = tmp_path / "quickstart.yaml"
    copied.write_text((EXAMPLES / "quickstart.yaml").read_text())
    result = CliRunner().invoke(main, ["run", str(copied)])
    assert result.exit_code == 2
    assert "idp.signing.key: no such file: ../../certs/sample-idp.key (looked for " in result.stderr
    assert str((tmp_path / "../../certs/sample-idp.key").resolve()) in result.stderr
    assert "`fedharness certs generate --out DIR` makes a key pair" in result.stderr
