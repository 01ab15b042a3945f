"""Bad input to the IdP side (`fedharness idp …`, `certs generate`, the files they read): one line,
exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from idp.directory import User
from idp.errors import MappingError
from idp.mapping.adfs import AdfsMapping, AdfsMappingConfig
from idp.mapping.adfs_store import WINDOWS_ACCOUNT_NAME
from idp.mapping.base import MappingInput
from idp.yamlfile import MAX_NESTING, NestingTooDeepError, load_yaml
from scenarios.cli import main
from tests.conftest import CERTS

NESTING_ERROR = f"nesting too deep (more than {MAX_NESTING} levels)"
NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_bad_input(result: Result, message: str) -> None:
    """Exit status 2, no traceback, and exactly ``error: message`` on stderr."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == f"error: {message}"


def idp_file(tmp_path: Path, body: str = "", *, name: str = "idp.yaml") -> Path:
    """Write an IdP file with the sample keys; ``body`` is appended as is."""
    path = tmp_path / name
    path.write_text(
        f"""\
idp:
  entity_id: https://idp.test/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
{body}""",
        encoding="utf-8",
    )
    return path


def line_of(path: Path, start: str) -> int:
    return next(
        n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start)
    )


# --- deep nesting (idp.yamlfile) ----------------------------------------------------------------


def flow_nested(levels: int) -> str:
    """``name: [[…]]`` whose document nests ``levels`` deep (the top mapping counts)."""
    return "name: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with libyaml's parser (when PyYAML has it) and with the Python one."""
    if request.param == "python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML is built without libyaml here")
    return str(request.param)


@pytest.mark.parametrize(
    "levels", [MAX_NESTING + 1, 1_000, 5_000], ids=["just-too-deep", "1000", "5000"]
)
def test_deep_flow_nesting_is_refused_at_its_line(
    tmp_path: Path, yaml_parser: str, levels: int
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("# deep\n" + flow_nested(levels))
    with pytest.raises(NestingTooDeepError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:2: {NESTING_ERROR}"


def test_nesting_up_to_the_limit_loads(tmp_path: Path, yaml_parser: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(flow_nested(MAX_NESTING))
    assert load_yaml(path).data["name"] is not None


def test_deep_block_nesting_names_the_first_line_too_deep(tmp_path: Path, yaml_parser: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("".join("  " * depth + "k:\n" for depth in range(MAX_NESTING + 5)))
    with pytest.raises(NestingTooDeepError) as caught:
        load_yaml(path)
    # the mapping of level n starts on line n: the first one too deep, on line MAX_NESTING + 1
    assert caught.value.line == MAX_NESTING + 1


def test_nesting_brought_in_by_aliases_counts(tmp_path: Path) -> None:
    half = MAX_NESTING // 2 + 1
    path = tmp_path / "alias.yaml"
    path.write_text(f"a: &deep {'[' * half}x{']' * half}\nb: {'[' * half}*deep{']' * half}\n")
    with pytest.raises(NestingTooDeepError):
        load_yaml(path)


@pytest.mark.parametrize(
    "command",
    [
        ("idp", "metadata", "--config"),
        ("idp", "assertion", "--user", "alice", "--config"),
    ],
    ids=["idp-metadata", "idp-assertion"],
)
def test_idp_commands_refuse_deep_nesting(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(flow_nested(1_000))
    assert_bad_input(invoke(*command, path), f"{path}:1: {NESTING_ERROR}")


def test_deep_nesting_in_a_fresh_process_is_one_line(tmp_path: Path) -> None:
    """The audit's exact input, where PyYAML's composer used to overflow the stack."""
    path = tmp_path / "deep.yaml"
    path.write_text(flow_nested(1_001))
    result = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "idp", "metadata", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {path}:1: {NESTING_ERROR}"


# --- unknown top-level keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("idp", "metadata", "--config"),
        ("idp", "assertion", "--user", "alice", "--config"),
    ],
    ids=["idp-metadata", "idp-assertion"],
)
def test_a_misspelt_section_is_refused_not_ignored(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = idp_file(tmp_path, "directroy:\n  users:\n    alice: {email: alice@corp.example}\n")
    line = line_of(path, "directroy:")
    assert_bad_input(
        invoke(*command, path),
        f"{path}:{line}: unknown field 'directroy'; did you mean 'directory'?",
    )


def test_the_sections_of_a_scenario_are_allowed_in_an_idp_file(tmp_path: Path) -> None:
    path = idp_file(tmp_path, "name: x\ndescription: y\naws: {}\nsts: {}\nexpect: {}\n")
    assert invoke("idp", "metadata", "--config", path).exit_code == 0


# --- certs generate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("common_name", "message"),
    [
        ("", "--common-name: must be 1 to 64 bytes of UTF-8 text, not 0 (RFC 5280 ub-common-name)"),
        (
            "x" * 65,
            "--common-name: must be 1 to 64 bytes of UTF-8 text, not 65 (RFC 5280 ub-common-name)",
        ),
        (
            "é" * 33,
            "--common-name: must be 1 to 64 bytes of UTF-8 text, not 66 (RFC 5280 ub-common-name)",
        ),
        # what Python makes of a Latin-1 argument on a UTF-8 system (surrogateescape)
        ("caf\udce9", "--common-name: not valid text (the command line was not UTF-8?)"),
    ],
    ids=["empty", "65-chars", "66-bytes", "not-utf-8"],
)
def test_certs_generate_refuses_a_bad_common_name(
    tmp_path: Path, common_name: str, message: str
) -> None:
    result = invoke("certs", "generate", "--out", tmp_path, "--common-name", common_name)
    assert_bad_input(result, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["a/b", "..", ""], ids=["slash", "dot-dot", "empty"])
def test_certs_generate_refuses_a_name_with_a_folder(tmp_path: Path, stem: str) -> None:
    result = invoke("certs", "generate", "--out", tmp_path, "--name", stem)
    assert_bad_input(
        result,
        f"--name {stem!r} must be a file stem: no '/', not '.' or '..' (--out chooses the folder)",
    )


def test_certs_generate_refuses_a_folder_where_the_key_goes(tmp_path: Path) -> None:
    (tmp_path / "idp.key").mkdir()
    result = invoke("certs", "generate", "--out", tmp_path, "--force")
    assert_bad_input(result, f"{tmp_path / 'idp.key'} is a folder; it cannot be replaced by a file")


# --- LDIF -----------------------------------------------------------------------------------------


def test_ldif_dn_whose_base64_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bad.ldif").write_text("version: 1\n\ndn:: /w==\nobjectClass: person\n")
    path = idp_file(tmp_path, f"directory: {{file: {tmp_path / 'bad.ldif'}}}\n")
    assert_bad_input(
        invoke("idp", "metadata", "--config", path),
        f"{tmp_path / 'bad.ldif'}:3: dn:: the base64 value is not UTF-8 text "
        "(a DN is UTF-8, RFC 4514)",
    )


# --- ADFS rules: errors at the rule, before any sign-in -----------------------------------------

STORE_RULE = (
    f'c:[Type == "{WINDOWS_ACCOUNT_NAME}"]\n'
    ' => issue(store = "Active Directory", types = ({types}), query = "{query}",'
    " param = c.Value);\n"
)


@pytest.mark.parametrize(
    ("types", "query", "problem"),
    [
        (f'"{NAME_ID}"', ";mail;{5}", "query ';mail;{5}': {5} has no param (1 given)"),
        (
            '"http://a", "http://b"',
            ";mail;{0}",
            "query ';mail;{0}' to attribute store 'Active Directory' returns 1 field(s) "
            "for 2 claim type(s) (ADFS fails the sign-in with POLICY0019)",
        ),
    ],
    ids=["param-missing", "types-vs-fields"],
)
def test_inline_adfs_query_errors_point_at_the_file_line(
    tmp_path: Path, types: str, query: str, problem: str
) -> None:
    rules = STORE_RULE.format(types=types, query=query)
    indented = "".join(f"        {line}\n" for line in rules.splitlines())
    path = idp_file(
        tmp_path,
        "  mapping:\n    adfs:\n      rules: |\n"
        + indented
        + "directory:\n  users:\n    alice: {email: alice@corp.example}\n",
    )
    line = line_of(path, "         => issue")
    result = invoke("idp", "assertion", "--config", path, "--user", "alice")
    assert_bad_input(result, f"{path}:{line}: idp.mapping.adfs.rules:2:19: {problem}")


def test_adfs_rules_file_errors_name_the_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "aws.rules"
    rules.write_text(STORE_RULE.format(types=f'"{NAME_ID}"', query=";mail;{1}"))
    path = idp_file(tmp_path, f"  mapping:\n    adfs: {{rules_file: {rules.name}}}\n")
    line = line_of(path, "    adfs:")
    result = invoke("idp", "metadata", "--config", path)
    assert_bad_input(
        result, f"{path}:{line}: {rules}:2:19: query ';mail;{{1}}': {{1}} has no param (1 given)"
    )


def test_adfs_errors_that_need_a_user_name_the_rule() -> None:
    mapping = AdfsMapping(
        AdfsMappingConfig(
            rules=(
                f'\nc:[Type == "{WINDOWS_ACCOUNT_NAME}"]'
                ' => issue(Type = "t", Value = RegExReplace("a", c.Value, ""));'
            )
        )
    )
    user = User("x(")
    with pytest.raises(MappingError) as caught:
        mapping.map(MappingInput(user=user, groups=(), direct_groups=()))
    assert caught.value.message.startswith("rules:2:1: rule 1 (line 2): regular expression ")
