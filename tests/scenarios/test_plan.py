"""`fedharness plan` (the user × role matrix and its golden diff) and `fedharness schema`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scenarios.loader import load_scenario
from scenarios.plan import RoleMatrix, compute_matrix, diff_matrices
from tests.conftest import EXAMPLES
from tests.scenarios.scenario_cli import invoke

SINGLE = EXAMPLES / "single-account.yaml"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
READ_ONLY = "arn:aws:iam::111111111111:role/ReadOnly"
CORP_IDP = "arn:aws:iam::111111111111:saml-provider/CorpIdP"
OTHER_IDP = "arn:aws:iam::111111111111:saml-provider/OtherIdP"


def golden(tmp_path: Path, users: dict[str, list[str]], name: str = "golden.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"scenario": "single-account", "users": users}))
    return path


# --- the matrix ---------------------------------------------------------------------------------


def test_matrix_of_single_account_offers_roles_with_their_provider() -> None:
    matrix = compute_matrix(load_scenario(SINGLE))
    assert matrix.scenario == "single-account"
    assert dict(matrix.users) == {
        "alice": {ADMIN: frozenset({CORP_IDP}), READ_ONLY: frozenset({CORP_IDP})},
        "bob": {READ_ONLY: frozenset({CORP_IDP})},
        "carol": {},
    }


def test_matrix_maps_without_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_scenario(SINGLE)

    def no_signing(*args: object, **kwargs: object) -> None:
        raise AssertionError("plan must not issue assertions")

    monkeypatch.setattr(loaded.provider, "issue", no_signing)
    assert compute_matrix(loaded).users["bob"] == {READ_ONLY: frozenset({CORP_IDP})}


def test_json_format_is_sorted_and_stable() -> None:
    code, out, _ = invoke("plan", SINGLE, "--format", "json")
    assert code == 0
    expected = {
        "scenario": "single-account",
        "users": {"alice": [ADMIN, READ_ONLY], "bob": [READ_ONLY], "carol": []},
    }
    assert out == json.dumps(expected, indent=2) + "\n"


def test_csv_format_has_a_header_and_one_row_per_role() -> None:
    code, out, _ = invoke("plan", SINGLE, "--format", "csv")
    assert code == 0
    assert out.splitlines() == [
        "user,role_arn,provider_arn",
        f"alice,{ADMIN},{CORP_IDP}",
        f"alice,{READ_ONLY},{CORP_IDP}",
        f"bob,{READ_ONLY},{CORP_IDP}",
        "carol,,",
    ]


def test_table_marks_each_offered_role() -> None:
    code, out, _ = invoke("plan", SINGLE)
    assert code == 0
    header = next(line for line in out.splitlines() if "user" in line and "role/" in line)
    assert "111111111111:role/Admin" in header and "111111111111:role/ReadOnly" in header
    assert header.index("role/Admin") < header.index("role/ReadOnly")
    rows = {
        line.split()[1]: line
        for line in out.splitlines()
        if line.startswith("│") and line.split()[1] in ("alice", "bob", "carol")
    }
    marks = {
        user: [cell.strip() for cell in line.strip("│").split("│")[1:]]
        for user, line in rows.items()
    }
    assert marks == {"alice": ["✓", "✓"], "bob": ["·", "✓"], "carol": ["·", "·"]}
    assert f"via {CORP_IDP}" in out


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = invoke("plan", tmp_path / "missing.yaml")
    assert code == 2
    assert err.startswith("error: ") and "missing.yaml" in err
    assert len(err.strip().splitlines()) == 1


# --- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["golden.json", "golden.csv"], ids=["json", "csv"])
def test_written_golden_checks_unchanged(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    code, out, _ = invoke("plan", SINGLE, "--write", path)
    assert code == 0 and f"to {path}" in out
    code, out, _ = invoke("plan", SINGLE, "--check", path)
    assert code == 0
    assert "matrix unchanged" in out


def test_write_produces_the_json_form(tmp_path: Path) -> None:
    path = tmp_path / "golden.json"
    invoke("plan", SINGLE, "--write", path)
    _, out, _ = invoke("plan", SINGLE, "--format", "json")
    assert path.read_text() == out


def test_changed_matrix_exits_1_with_who_gains_and_loses(tmp_path: Path) -> None:
    path = golden(tmp_path, {"alice": [ADMIN], "bob": [ADMIN, READ_ONLY], "carol": []})
    code, out, _ = invoke("plan", SINGLE, "--check", path)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"matrix changed against {path} (gained: 1, lost: 1):"
    assert lines[1:] == [f"+ alice gains {READ_ONLY}", f"- bob loses {ADMIN}"]


def test_new_and_removed_users_are_named(tmp_path: Path) -> None:
    path = golden(tmp_path, {"alice": [ADMIN, READ_ONLY], "bob": [READ_ONLY], "dave": [READ_ONLY]})
    code, out, _ = invoke("plan", SINGLE, "--check", path)
    assert code == 1
    assert out.splitlines()[1:] == [
        "+ new user carol",
        "- removed user dave",
        f"- dave loses {READ_ONLY}",
    ]


def test_csv_golden_is_compared_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "golden.csv"
    path.write_text(
        f"user,role_arn,provider_arn\nalice,{ADMIN},{CORP_IDP}\n"
        f"bob,{READ_ONLY},{CORP_IDP}\nbob,{ADMIN},{CORP_IDP}\ncarol,,\n"
    )
    code, out, _ = invoke("plan", SINGLE, "--check", path)
    assert code == 1
    assert out.splitlines()[1:] == [f"+ alice gains {READ_ONLY}", f"- bob loses {ADMIN}"]


def test_csv_golden_reports_a_changed_provider(tmp_path: Path) -> None:
    path = tmp_path / "golden.csv"
    path.write_text(
        f"user,role_arn,provider_arn\nalice,{ADMIN},{OTHER_IDP}\n"
        f"alice,{READ_ONLY},{CORP_IDP}\nbob,{READ_ONLY},{CORP_IDP}\ncarol,,\n"
    )
    code, out, _ = invoke("plan", SINGLE, "--check", path)
    assert code == 1
    assert out.splitlines()[1:] == [f"~ alice {ADMIN} now via {CORP_IDP} (was {OTHER_IDP})"]


def test_check_with_a_format_keeps_stdout_for_the_matrix(tmp_path: Path) -> None:
    path = golden(tmp_path, {"alice": [ADMIN], "bob": [READ_ONLY], "carol": []})
    code, out, err = invoke("plan", SINGLE, "--format", "json", "--check", path)
    assert code == 1
    assert json.loads(out)["users"]["alice"] == [ADMIN, READ_ONLY]
    assert f"+ alice gains {READ_ONLY}" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("golden.json", '{\n  "users": [,]\n}', "golden.json:2: not valid JSON"),
        ("golden.json", "[]", 'golden.json: expected {"scenario"'),
        ("golden.json", '{"users": {\n"alice": "Admin"}}', "golden.json:2: users.alice: expected"),
        ("golden.csv", "name,role\nalice,x\n", "golden.csv:1: expected the header"),
        (
            "golden.csv",
            f"user,role_arn,provider_arn\nalice,{ADMIN}\n",
            "golden.csv:2: expected 3 fields, got 2",
        ),
        ("golden.csv", "", "golden.csv: empty"),
    ],
    ids=[
        "json-syntax",
        "json-shape",
        "json-user-not-list",
        "csv-header",
        "csv-ragged",
        "csv-empty",
    ],
)
def test_bad_golden_is_one_line_and_exit_2(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    code, out, err = invoke("plan", SINGLE, "--check", path)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and message in err


def test_missing_golden_is_bad_input(tmp_path: Path) -> None:
    code, _, err = invoke("plan", SINGLE, "--check", tmp_path / "nope.json")
    assert code == 2
    assert "nope.json: cannot read golden file" in err


def test_check_and_write_together_are_refused(tmp_path: Path) -> None:
    code, _, err = invoke(
        "plan", SINGLE, "--check", tmp_path / "a.json", "--write", tmp_path / "b.json"
    )
    assert code == 2 and "not both" in err


def test_diff_of_equal_matrices_is_empty() -> None:
    matrix = RoleMatrix("s", {"alice": {ADMIN: frozenset({CORP_IDP})}})
    json_golden = RoleMatrix("s", {"alice": {ADMIN: frozenset()}})
    assert diff_matrices(matrix, matrix) == ()
    assert diff_matrices(json_golden, matrix) == ()


# --- schema -------------------------------------------------------------------------------------


def schema_document() -> dict[str, object]:
    code, out, _ = invoke("schema")
    assert code == 0
    document: dict[str, object] = json.loads(out)
    return document


def test_schema_names_its_dialect_and_how_to_use_it() -> None:
    document = schema_document()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["title"] == "fedharness scenario"
    assert "# yaml-language-server: $schema=" in str(document["$comment"])
    assert document["additionalProperties"] is False


def test_schema_output_file_and_modeline_hint(tmp_path: Path) -> None:
    path = tmp_path / "scenario.schema.json"
    code, out, _ = invoke("schema", "--output", path)
    assert code == 0
    assert json.loads(path.read_text()) == schema_document()
    assert f"# yaml-language-server: $schema={path}" in out


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_schema_accepts_the_examples(example: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    validator = jsonschema.Draft202012Validator(schema_document())
    assert [e.message for e in validator.iter_errors(yaml.safe_load(example.read_text()))] == []


@pytest.mark.parametrize(
    ("path", "key"),
    [((), "colour"), (("expect", "alice"), "rolez"), (("idp",), "entityid")],
    ids=["top-level", "expectation", "idp"],
)
def test_schema_rejects_an_unknown_key(path: tuple[str, ...], key: str) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    data = yaml.safe_load(SINGLE.read_text())
    target = data
    for part in path:
        target = target[part]
    target[key] = "x"
    errors = list(jsonschema.Draft202012Validator(schema_document()).iter_errors(data))
    assert any(key in error.message for error in errors)
