"""`fedharness inspect`: annotations, strict verdicts with --config, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scenarios.cli import main
from tests.conftest import EXAMPLES

SCENARIO = str(EXAMPLES / "single-account.yaml")


def assertion_for(user: str) -> str:
    result = CliRunner().invoke(main, ["idp", "assertion", "--config", SCENARIO, "--user", user])
    assert result.exit_code == 0
    return result.stdout


def test_inspect_from_stdin_without_config() -> None:
    result = CliRunner().invoke(main, ["inspect"], input=assertion_for("alice"))
    assert result.exit_code == 0, result.output
    assert "Recipient (saml:aud): https://signin.aws.amazon.com/saml" in result.stdout
    assert "Role attribute (2 values)" in result.stdout
    assert "not checked" in result.stdout
    assert "give --config SCENARIO" in result.stdout


def test_inspect_with_config_judges_each_pair(tmp_path: Path) -> None:
    source = tmp_path / "bob.b64"
    source.write_text(assertion_for("bob"))
    result = CliRunner().invoke(main, ["inspect", str(source), "--config", SCENARIO, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["signed"] == ["Assertion"]
    assert [(p["role"], p["accepted"]) for p in report["pairs"]] == [
        ("arn:aws:iam::111111111111:role/ReadOnly", True)
    ]


def test_inspect_explains_a_refusal(tmp_path: Path) -> None:
    failing = EXAMPLES.parent / "failing" / "admin-leak.yaml"
    issued = (
        CliRunner()
        .invoke(main, ["idp", "assertion", "--config", str(failing), "--user", "bob"])
        .stdout
    )
    result = CliRunner().invoke(main, ["inspect", "--config", str(failing), "--json"], input=issued)
    pairs = {p["role"]: p for p in json.loads(result.stdout)["pairs"]}
    refused = pairs["arn:aws:iam::111111111111:role/ReadOnly"]
    assert refused["accepted"] is False
    assert "[rule role.trust_policy]" in refused["explanation"]
    assert "SAML:aud" in refused["explanation"]


def test_inspect_refuses_what_is_not_a_saml_response() -> None:
    result = CliRunner().invoke(main, ["inspect"], input="aGVsbG8=")
    assert result.exit_code == 2
    assert "not a SAMLResponse" in result.stderr
    assert "Traceback" not in result.output


def test_role_attribute_repeated_gets_one_heading_with_every_pair() -> None:
    from sp_fixtures.aws.inspect import Inspection, PairVerdict

    role = "https://aws.amazon.com/SAML/Attributes/Role"
    pairs = tuple(
        PairVerdict(
            f"arn:aws:iam::111111111111:role/{name}",
            "arn:aws:iam::1:saml-provider/P",
            None,
            "not checked",
        )
        for name in ("Admin", "ReadOnly")
    )
    inspection = Inspection(
        xml="<x/>",
        issuer="i",
        name_id="n",
        name_id_format=None,
        recipients=(),
        audiences=(),
        issue_instant=None,
        not_on_or_after=None,
        signed=(),
        encrypted=False,
        attributes=((role, ("a",)), (role, ("b",))),
        pairs=pairs,
    )
    lines = inspection.annotations()
    headings = [line for line in lines if line.startswith("Role attribute")]
    assert headings == ["Role attribute (2 values in 2 Attribute elements): the pairs AWS can take"]
    start = lines.index(headings[0])
    assert [line.split(" via ")[0].strip() for line in lines[start + 1 : start + 3]] == [
        "arn:aws:iam::111111111111:role/Admin",
        "arn:aws:iam::111111111111:role/ReadOnly",
    ]
