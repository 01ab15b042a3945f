"""`fedharness attack list|make|run|metadata` (the `attack` group, invoked directly)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.provider import IdentityProvider
from scenarios.cli_attack import attack
from sp_fixtures.attacks.catalogue import load_catalogue
from sp_fixtures.aws.server import serve_in_thread
from sp_fixtures.verify import TrustedIdp, VerificationError, verify_response
from sp_fixtures.xmldsig import ErrorCode
from tests.conftest import DATA
from tests.sp_fixtures.attacks.loopback_sp import CarefulSp, NaiveSp

WORLD = DATA / "attacks" / "world.yaml"
AUDIENCE = "urn:fedharness:test-sp"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(attack, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trusted() -> TrustedIdp:
    return TrustedIdp.from_metadata(IdentityProvider.from_file(WORLD).metadata())


@pytest.fixture
def careful_url(trusted: TrustedIdp) -> Iterator[str]:
    app = CarefulSp(trusted, AUDIENCE)
    server = serve_in_thread(app)
    app.acs_url = server.url + "/acs"
    try:
        yield app.acs_url
    finally:
        server.stop()


def test_list_shows_every_attack() -> None:
    code, out, _ = run("list")
    assert code == 0
    assert f"{len(load_catalogue())} attacks" in out
    assert "xsw8-ds-object" in out and "multiple_assertions" in out


def test_list_as_json_filtered_by_family() -> None:
    code, out, _ = run("list", "--format", "json", "--family", "replay")
    assert code == 0
    listed = json.loads(out)
    assert {item["id"] for item in listed} == {
        "replay-same-response",
        "replay-assertion-id-in-new-response",
    }
    assert listed[0]["expect"]["requires"] == "replay-protection"


def test_make_prints_a_tampered_response_the_verifier_refuses(trusted: TrustedIdp) -> None:
    code, out, _ = run("make", "xsw3", "--config", str(WORLD), "--user", "alice")
    assert code == 0
    document = base64.b64decode(out.strip(), validate=True)
    assert b"admin@corp.example" in document and b"alice@corp.example" in document
    with pytest.raises(VerificationError) as refused:
        verify_response(document, trusted)
    assert refused.value.code == ErrorCode.MULTIPLE_ASSERTIONS


def test_make_control_is_accepted(trusted: TrustedIdp) -> None:
    code, out, _ = run("make", "control", "--config", str(WORLD), "--user", "alice")
    assert code == 0
    verified = verify_response(base64.b64decode(out.strip()), trusted)
    assert verified.name_id == "alice@corp.example"


def test_make_replay_prints_both_responses_in_order() -> None:
    code, out, err = run("make", "replay-same-response", "--config", str(WORLD), "--user", "alice")
    assert code == 0
    first, second = out.split()
    assert first == second
    assert "send them in order" in err


def test_make_xml_with_evil_options() -> None:
    code, out, _ = run(
        "make",
        "xsw7",
        "--config",
        str(WORLD),
        "--user",
        "alice",
        "--xml",
        "--evil-name-id",
        "root@corp.example",
        "--evil-role",
        "arn:aws:iam::111111111111:role/Admin",
    )
    assert code == 0
    assert out.startswith("<?xml") and "<Extensions>" in out
    assert "root@corp.example" in out and "role/Admin," in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("make", "xsw99", "--config", str(WORLD), "--user", "alice"), "no attack 'xsw99'"),
        (("make", "xsw3", "--config", str(WORLD), "--user", "nobody"), "nobody"),
        (
            (
                "make",
                "xsw3",
                "--config",
                str(WORLD),
                "--user",
                "alice",
                "--evil-role",
                "arn:aws:iam::111111111111:role/ReadOnly",
            ),
            "already has",
        ),
        (
            (
                "run",
                "--target",
                "http://example.com/acs",
                "--config",
                str(WORLD),
                "--user",
                "alice",
                "--accept-status",
                "200",
            ),
            "not a loopback address",
        ),
        (
            (
                "run",
                "--target",
                "http://127.0.0.1:9/acs",
                "--config",
                str(WORLD),
                "--user",
                "alice",
            ),
            "exactly one acceptance rule",
        ),
        (
            (
                "run",
                "--target",
                "http://127.0.0.1:9/acs",
                "--accept-status",
                "200",
                "--only",
                "nope",
            ),
            "no attack 'nope'",
        ),
    ],
    ids=[
        "unknown-id",
        "unknown-user",
        "evil-role-is-genuine",
        "remote-target",
        "no-rule",
        "unknown-only",
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_run_against_a_careful_sp_finds_nothing(careful_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    code, out, _ = run(
        "run",
        "--target",
        careful_url,
        "--config",
        str(WORLD),
        "--user",
        "alice",
        "--sp",
        "loopback-sp",
        "--accept-status",
        "200",
        "--json",
        str(report_path),
    )
    assert code == 0, out
    assert "0 finding(s); control accepted (status 200)" in out
    report = json.loads(report_path.read_text())
    assert report["control_accepted"] is True and report["findings"] == []
    verdicts = {o["id"]: o["verdict"] for o in report["outcomes"]}
    assert verdicts["xsw1"] == "refused"
    assert verdicts["rsa-sha1-signature"].startswith("accepted (policy")


def test_run_against_a_naive_sp_exits_1() -> None:
    app = NaiveSp()
    server = serve_in_thread(app)
    try:
        code, out, _ = run(
            "run",
            "--target",
            server.url + "/acs",
            "--config",
            str(WORLD),
            "--user",
            "alice",
            "--accept-cookie",
            "session",
            "--family",
            "wrapping",
        )
    finally:
        server.stop()
    assert code == 1
    assert "xsw3" in out and "ACCEPTED" in out


def test_run_with_a_foreign_idp_is_inconclusive(careful_url: str, tmp_path: Path) -> None:
    code, out, _ = run(
        "run",
        "--target",
        careful_url,
        "--idp-dir",
        str(tmp_path / "idp"),
        "--accept-status",
        "200",
        "--only",
        "xsw3",
    )
    assert code == 2
    assert "inconclusive" in out


def test_builtin_idp_metadata_and_run(tmp_path: Path) -> None:
    folder = tmp_path / "attack-idp"
    code, metadata, err = run("metadata", "--idp-dir", str(folder))
    assert code == 0 and "created the built-in attack IdP" in err
    assert (folder / "idp.key").stat().st_mode & 0o077 == 0
    trusted = TrustedIdp.from_metadata(metadata)
    assert trusted.entity_id == "urn:fedharness:attack-idp"
    app = CarefulSp(trusted, "")
    server = serve_in_thread(app)
    app.acs_url = app.audience = server.url + "/acs"
    try:
        code, out, _ = run(
            "run", "--target", app.acs_url, "--idp-dir", str(folder), "--accept-text", "Welcome"
        )
    finally:
        server.stop()
    assert code == 0, out
    assert app.logins[0] == "alice@example.com"
    assert "2 not judged" in out  # the built-in user has no Role: two Role attacks do not apply
    assert re.search(r"^comment-in-role +not judged: not applicable", out, re.MULTILINE)
