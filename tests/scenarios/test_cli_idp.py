"""`fedharness idp …` and `fedharness certs …`: output and one-line errors on bad input."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from idp.certs import generate_self_signed
from scenarios.cli import main
from tests.conftest import CERTS, EXAMPLES

QUICKSTART = str(EXAMPLES / "quickstart.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def config_with(
    tmp_path: Path, *, key: Path, cert: Path, password: str | None = None, body: str | None = None
) -> Path:
    path = tmp_path / "idp.yaml"
    password_line = f"\n    password: {password}" if password else ""
    path.write_text(
        body
        if body is not None
        else f"""\
idp:
  entity_id: https://idp.test/saml
  signing:
    key: {key}
    cert: {cert}{password_line}
directory:
  users:
    alice: {{email: alice@corp.example}}
"""
    )
    return path


def test_metadata_prints_the_entity_descriptor() -> None:
    code, out, _ = run("idp", "metadata", "--config", QUICKSTART)
    assert code == 0
    root = etree.fromstring(out.encode())
    assert root.get("entityID") == "https://idp.corp.example/saml"
    assert len(out) >= 1000  # IAM's minimum metadata size


def test_assertion_prints_base64_of_a_signed_response() -> None:
    code, out, _ = run(
        "idp",
        "assertion",
        "--config",
        QUICKSTART,
        "--user",
        "bob",
        "--role",
        "arn:aws:iam::222222222222:role/Developer",
    )
    assert code == 0
    xml = base64.b64decode(out.strip(), validate=True)
    assert b"<ds:SignatureValue>" in xml
    assert b"role/Developer" in xml and b"role/ReadOnly" not in xml


def test_assertion_xml_flag_and_recipient() -> None:
    code, out, _ = run(
        "idp",
        "assertion",
        "--config",
        QUICKSTART,
        "--user",
        "alice",
        "--xml",
        "--recipient",
        "https://eu-west-1.signin.aws.amazon.com/saml",
    )
    assert code == 0
    assert out.startswith("<?xml")
    assert 'Recipient="https://eu-west-1.signin.aws.amazon.com/saml"' in out


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "idp" in result.stdout and "certs" in result.stdout


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_user() -> None:
    code, _, err = run("idp", "assertion", "--config", QUICKSTART, "--user", "alicee")
    assert_one_line_error(code, err, "unknown user 'alicee'", "alice")


def test_unknown_role() -> None:
    code, _, err = run(
        "idp",
        "assertion",
        "--config",
        QUICKSTART,
        "--user",
        "carol",
        "--role",
        "arn:aws:iam::111111111111:role/Admin",
    )
    assert_one_line_error(code, err, f"error: {QUICKSTART}: carol is not granted")


def test_missing_config_file(tmp_path: Path) -> None:
    code, _, err = run("idp", "metadata", "--config", str(tmp_path / "nope.yaml"))
    assert_one_line_error(code, err, "nope.yaml")


def test_unreadable_key(tmp_path: Path) -> None:
    config = config_with(tmp_path, key=tmp_path / "missing.key", cert=CERTS / "sample-idp.crt")
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, "missing.key", "cannot read private key")


def test_key_that_is_not_pem(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello")
    config = config_with(tmp_path, key=garbage, cert=CERTS / "sample-idp.crt")
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, "garbage.key", "not a PEM private key")


@pytest.fixture
def encrypted_key(tmp_path: Path) -> tuple[Path, Path]:
    pair = generate_self_signed(bits=2048)
    key = serialization.load_pem_private_key(pair.key_pem, password=None)
    key_path, cert_path = tmp_path / "enc.key", tmp_path / "enc.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    cert_path.write_bytes(pair.cert_pem)
    return key_path, cert_path


def test_encrypted_key_with_its_password(tmp_path: Path, encrypted_key: tuple[Path, Path]) -> None:
    config = config_with(tmp_path, key=encrypted_key[0], cert=encrypted_key[1], password="s3cret")
    code, out, _ = run("idp", "assertion", "--config", str(config), "--user", "alice")
    assert code == 0 and base64.b64decode(out.strip())


def test_wrong_key_password(tmp_path: Path, encrypted_key: tuple[Path, Path]) -> None:
    config = config_with(tmp_path, key=encrypted_key[0], cert=encrypted_key[1], password="wrong")
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, "enc.key", "wrong password")


def test_encrypted_key_without_password(tmp_path: Path, encrypted_key: tuple[Path, Path]) -> None:
    config = config_with(tmp_path, key=encrypted_key[0], cert=encrypted_key[1])
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, "encrypted; give its password")


def test_certificate_of_another_key(tmp_path: Path) -> None:
    config = config_with(tmp_path, key=CERTS / "sample-idp.key", cert=CERTS / "sample-idp-next.crt")
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, "does not belong to the private key")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("idp: [unclosed\n", "idp.yaml:"),
        ("idp:\n  entity_id: x\n", "idp.yaml:1: idp: missing required field 'signing'"),
        ("idp:\n  entity_id: x\n  signing: {key: a, cert: b, algorithm: rsa-md5}\n", "idp.yaml:3:"),
        ("idp:\n  entity_id: x\n  signing: {key: a, cert: b}\n  colour: blue\n", "idp.yaml:4:"),
        ("- just\n- a list\n", "idp.yaml:1:"),
    ],
    ids=["yaml-syntax", "missing-signing", "bad-algorithm", "unknown-key", "not-a-mapping"],
)
def test_malformed_config(tmp_path: Path, body: str, expected: str) -> None:
    config = config_with(tmp_path, key=CERTS / "x", cert=CERTS / "y", body=body)
    code, _, err = run("idp", "metadata", "--config", str(config))
    assert_one_line_error(code, err, expected)


def test_certs_generate(tmp_path: Path) -> None:
    code, out, _ = run(
        "certs", "generate", "--bits", "3072", "--out", str(tmp_path), "--name", "mine"
    )
    assert code == 0 and "mine.key" in out
    key_path, cert_path = tmp_path / "mine.key", tmp_path / "mine.crt"
    assert key_path.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.public_key().key_size == 3072  # type: ignore[union-attr]
    assert cert.subject == cert.issuer


def test_certs_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("certs", "generate", "--out", str(tmp_path))[0] == 0
    code, _, err = run("certs", "generate", "--out", str(tmp_path))
    assert_one_line_error(code, err, "exists; use --force")


def test_certs_generate_refuses_small_keys(tmp_path: Path) -> None:
    code, _, _ = run("certs", "generate", "--bits", "1024", "--out", str(tmp_path))
    assert code == 2


def test_unknown_user_names_the_file_and_line_of_its_users() -> None:
    code, _, err = run("idp", "assertion", "--config", QUICKSTART, "--user", "zed")
    assert_one_line_error(code, err, f"error: {QUICKSTART}:", ": unknown user 'zed' (known: ")


def test_unknown_sp_names_the_file() -> None:
    code, _, err = run("idp", "assertion", "--config", QUICKSTART, "--user", "alice", "--sp", "x")
    assert_one_line_error(code, err, f"error: {QUICKSTART}: unknown service provider 'x'")
