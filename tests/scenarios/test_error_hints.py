"""A scenario's YAML and schema mistakes from the user walkthrough, as `run` prints them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from scenarios.cli import main
from tests.conftest import CERTS, EXAMPLES

CANNOT = '    cannot: [{action: s3:PutObject, resource: "arn:aws:s3:::reports/q3.csv"}]\n'


def single_account(tmp_path: Path, replace: str, by: str) -> tuple[Path, int]:
    """Write single-account.yaml with one line changed; return the file and that line."""
    text = (EXAMPLES / "single-account.yaml").read_text(encoding="utf-8")
    text = text.replace("../../certs", str(CERTS))
    assert replace in text
    path = tmp_path / "e4.yaml"
    path.write_text(text.replace(replace, by), encoding="utf-8")
    return path, text[: text.index(replace)].count("\n") + 1


def run_error(path: Path) -> str:
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_misspelt_action_names_the_misspelling(tmp_path: Path) -> None:
    path, line = single_account(tmp_path, CANNOT, "    cannot: [{actions: s3:GetObject}]\n")
    assert run_error(path) == (
        f"error: {path}:{line}: expect.bob.cannot[0]: unknown field 'actions'; "
        "did you mean 'action'?"
    )


def test_misindented_key_gets_an_indentation_hint(tmp_path: Path) -> None:
    bob = "    bob: {email: bob@corp.example, groups: [engineering]}\n"
    path, line = single_account(tmp_path, bob, "   " + bob.lstrip())
    message = run_error(path)
    assert message.startswith(
        f"error: {path}:{line}: invalid YAML: expected <block end>, but found "
        "'<block mapping start>'"
    )
    assert "check the indentation of this line and the one above" in message
