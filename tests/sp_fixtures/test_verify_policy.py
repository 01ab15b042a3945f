"""Verification policy: SHA-1 only when opted in, KeyInfo without foreign key material, a size cap,
and wrapping shapes that must be refused before any crypto (saml-attacks.md §2, §3.2, §3.11, §7).

SHA-1 is checked wherever a response is judged: the verifier, the strict STS through each way in
(Python API, boto3 in-process, boto3 against the served STS, ``fedharness sts serve``) and a
scenario run. Whether AWS still accepts SHA-1 is not documented, so every one of them refuses it
unless told otherwise (``allow_sha1``).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from moto import mock_aws

from idp.provider import IdentityProvider
from idp.saml.constants import NS, DigestAlgorithm, SignatureAlgorithm, qname
from idp.saml.keys import KeyPair
from idp.saml.metadata import MetadataSpec, metadata_bytes
from idp.saml.signing import sign_element
from idp.yamlfile import load_yaml, validate
from scenarios.loader import load_scenario
from scenarios.model import Scenario
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory
from sp_fixtures.aws.inprocess import strict_sts
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.rules import MAX_ASSERTION_CHARS
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts
from sp_fixtures.verify import (
    DEFAULT_DIGESTS,
    DEFAULT_SIGNATURE_ALGORITHMS,
    MAX_DOCUMENT_BYTES,
    ErrorCode,
    TrustedIdp,
    verify_response,
)
from tests.conftest import CERTS, EXAMPLES, ROOT
from tests.sp_fixtures.aws.sts_cases import WORLD, Forge
from tests.sp_fixtures.aws.test_server import _wait_for_url
from tests.sp_fixtures.test_verify import (
    ENDPOINTS,
    EVIL,
    ISSUER,
    NAME_ID,
    Edit,
    assertion_of,
    build,
    expect_code,
    find,
    mutate,
    set_signature_method,
    signature_of,
)

DSIG11 = "http://www.w3.org/2009/xmldsig11#"
DSIG_MORE = "http://www.w3.org/2000/09/xmldsig-more#"
OPT_IN_HINTS = ("allow_sha1=True", "--allow-sha1", "sts: {allow_sha1: true}")


@pytest.fixture
def idp(idp_key: KeyPair, sp_key: KeyPair) -> TrustedIdp:
    return TrustedIdp(ISSUER, (idp_key.cert_pem,), (sp_key.key_pem,))


# --- SHA-1: the verifier ------------------------------------------------------------------------

SHA1_DOCUMENTS = [
    pytest.param(
        SignatureAlgorithm.RSA_SHA1,
        None,
        "assertion",
        "SignatureMethod RSA-SHA1",
        id="rsa-sha1/assertion-signed",
    ),
    pytest.param(
        SignatureAlgorithm.RSA_SHA1,
        None,
        "response",
        "SignatureMethod RSA-SHA1",
        id="rsa-sha1/response-signed",
    ),
    pytest.param(
        SignatureAlgorithm.RSA_SHA256,
        DigestAlgorithm.SHA1,
        "assertion",
        "DigestMethod SHA-1",
        id="sha1-digest/assertion-signed",
    ),
    pytest.param(
        SignatureAlgorithm.RSA_SHA256,
        DigestAlgorithm.SHA1,
        "both",
        "DigestMethod SHA-1",
        id="sha1-digest/both-signed",
    ),
]


@pytest.mark.parametrize(("algorithm", "digest", "sign", "named"), SHA1_DOCUMENTS)
def test_sha1_is_refused_by_default_saying_how_to_opt_in(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm | None,
    sign: str,
    named: str,
) -> None:
    document = build(now, idp_key, sign, algorithm=algorithm, digest=digest)
    message = expect_code(ErrorCode.ALGORITHM_NOT_ALLOWED, document, idp)
    assert named in message, message
    assert (digest or algorithm).value in message
    for hint in OPT_IN_HINTS:
        assert hint in message, message


@pytest.mark.parametrize(("algorithm", "digest", "sign", "named"), SHA1_DOCUMENTS)
def test_sha1_is_accepted_with_allow_sha1(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm | None,
    sign: str,
    named: str,
) -> None:
    document = build(now, idp_key, sign, algorithm=algorithm, digest=digest)
    verified = verify_response(document, idp, allow_sha1=True)
    assert verified.name_id == NAME_ID
    assert verified.signature_algorithm is algorithm
    assert verified.digest_algorithm is (digest or DigestAlgorithm.SHA1)


def test_defaults_hold_no_sha1() -> None:
    assert SignatureAlgorithm.RSA_SHA1 not in DEFAULT_SIGNATURE_ALGORITHMS
    assert DigestAlgorithm.SHA1 not in DEFAULT_DIGESTS


def test_allow_sha1_extends_explicit_allowlists(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    document = build(now, idp_key, algorithm=SignatureAlgorithm.RSA_SHA1)
    only_256: dict[str, Any] = {
        "allowed_signature_algorithms": (SignatureAlgorithm.RSA_SHA256,),
        "allowed_digests": (DigestAlgorithm.SHA256,),
    }
    expect_code(ErrorCode.ALGORITHM_NOT_ALLOWED, document, idp, **only_256)
    verified = verify_response(document, idp, allow_sha1=True, **only_256)
    assert verified.signature_algorithm is SignatureAlgorithm.RSA_SHA1


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(
            {"allowed_signature_algorithms": (SignatureAlgorithm.RSA_SHA1,)}, id="rsa-sha1-listed"
        ),
        pytest.param(
            {"allowed_digests": (DigestAlgorithm.SHA256, DigestAlgorithm.SHA1)},
            id="sha1-digest-listed",
        ),
        pytest.param(
            {"allowed_digests": (DigestAlgorithm.SHA1,), "allow_sha1": False},
            id="listed-with-allow-sha1-false",
        ),
    ],
)
def test_listing_sha1_without_allow_sha1_is_a_programming_error(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="allow_sha1=True"):
        verify_response(build(now, idp_key), idp, **options)


def test_hmac_sha1_stays_refused_with_allow_sha1(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    document = mutate(
        build(now, idp_key), set_signature_method("http://www.w3.org/2000/09/xmldsig#hmac-sha1")
    )
    expect_code(ErrorCode.ALGORITHM_NOT_ALLOWED, document, idp, allow_sha1=True)


# --- SHA-1: the strict STS, every way in --------------------------------------------------------


@dataclass
class Sts:
    provider: IdentityProvider
    strict: StrictSts
    opted_in: StrictSts
    server: RunningServer
    server_opted_in: RunningServer

    def forge(self) -> Forge:
        # No case here signs with a stranger key: the path pair is never read.
        return Forge(self.provider, dt.datetime.now(dt.UTC), (Path(), Path()))

    def sha1_request(self) -> dict[str, Any]:
        forge = self.forge()
        return forge.request(forge.issue(provider=forge.variant(algorithm="rsa-sha1")))


@pytest.fixture(scope="module")
def sts() -> Iterator[Sts]:
    provider = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name="verify-policy",
        )
        strict = StrictSts(MotoIam(provisioned.extras))
        opted_in = StrictSts(MotoIam(provisioned.extras), allow_sha1=True)
        server = serve_in_thread(StrictStsApp(strict))
        server_opted_in = serve_in_thread(StrictStsApp(opted_in))
        try:
            yield Sts(provider, strict, opted_in, server, server_opted_in)
        finally:
            server.stop()
            server_opted_in.stop()


def _sts_client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _assume(
    way: str, strict: StrictSts, server: RunningServer, params: dict[str, Any]
) -> dict[str, Any]:
    """Call AssumeRoleWithSAML ``way``; return the answer or raise ClientError."""
    if way == "python-api":
        try:
            return strict.assume_role_with_saml(**params)
        except StsError as exc:  # in boto3's shape, so that every way in is checked alike
            raise ClientError(
                {"Error": {"Code": exc.code, "Message": exc.message}}, "AssumeRoleWithSAML"
            ) from exc
    if way == "boto3-in-process":
        with strict_sts(strict):
            answer: dict[str, Any] = _sts_client().assume_role_with_saml(**params)
            return answer
    served: dict[str, Any] = _sts_client(server.url).assume_role_with_saml(**params)
    return served


WAYS_IN = ["python-api", "boto3-in-process", "boto3-against-server"]


@pytest.mark.parametrize("way", WAYS_IN)
def test_strict_sts_refuses_sha1_by_default(sts: Sts, way: str) -> None:
    with pytest.raises(ClientError) as refused:
        _assume(way, sts.strict, sts.server, sts.sha1_request())
    assert refused.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_strict_sts_refusal_names_sha1_and_the_opt_in(sts: Sts) -> None:
    verdict = sts.strict.judge(AssumeRoleWithSamlRequest.from_params(sts.sha1_request()))
    assert verdict.error is not None and verdict.failed_rule == "saml.signature"
    detail = verdict.error.detail or ""
    assert detail.startswith("algorithm_not_allowed: SignatureMethod RSA-SHA1"), detail
    for hint in OPT_IN_HINTS:
        assert hint in detail


@pytest.mark.parametrize("way", WAYS_IN)
def test_strict_sts_accepts_sha1_when_opted_in(sts: Sts, way: str) -> None:
    answer = _assume(way, sts.opted_in, sts.server_opted_in, sts.sha1_request())
    assert answer["Subject"] == "alice"
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/alice@corp.example")


def test_strict_sts_opt_in_ends_with_the_call(
    sts: Sts, now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    assert (
        sts.opted_in.judge(AssumeRoleWithSamlRequest.from_params(sts.sha1_request())).error is None
    )
    document = build(now, idp_key, algorithm=SignatureAlgorithm.RSA_SHA1)
    expect_code(ErrorCode.ALGORITHM_NOT_ALLOWED, document, idp)


def test_sts_serve_allow_sha1(sts: Sts) -> None:
    command = [
        sys.executable,
        "-m",
        "scenarios.cli_sts",
        "serve",
        "--port",
        "0",
        "--allow-sha1",
        "--config",
        str(WORLD.relative_to(ROOT)),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, banner = _wait_for_url(process)
        assert b"SHA-1 signatures and digests accepted (--allow-sha1)" in banner
        answer = _sts_client(url).assume_role_with_saml(**sts.sha1_request())
        assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/alice@corp.example")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()


# --- SHA-1: a scenario run ------------------------------------------------------------------------


def _sha1_scenario(folder: Path, sts_settings: dict[str, Any] | None) -> Path:
    """Write the quickstart example signing with RSA-SHA1 (and the given ``sts:`` settings)."""
    document = yaml.safe_load((EXAMPLES / "quickstart.yaml").read_text())
    signing = document["idp"]["signing"]
    signing.update(
        key=str(CERTS / "sample-idp.key"),
        cert=str(CERTS / "sample-idp.crt"),
        next_key={
            "key": str(CERTS / "sample-idp-next.key"),
            "cert": str(CERTS / "sample-idp-next.crt"),
        },
        algorithm="rsa-sha1",
    )
    if sts_settings is not None:
        document["sts"] = sts_settings
    path = folder / "sha1.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("sts_settings", "allowed"),
    [
        pytest.param(None, False, id="default"),
        pytest.param({"allow_sha1": False}, False, id="allow-sha1-false"),
        pytest.param({"allow_sha1": True}, True, id="allow-sha1-true"),
    ],
)
def test_scenario_sts_setting_is_read(
    tmp_path: Path, sts_settings: dict[str, Any] | None, allowed: bool
) -> None:
    loaded = load_scenario(_sha1_scenario(tmp_path, sts_settings))
    assert loaded.scenario.sts.allow_sha1 is allowed


@pytest.mark.parametrize(
    ("sts_settings", "status"),
    [
        pytest.param(None, 1, id="default-refuses"),
        pytest.param({"allow_sha1": True}, 0, id="allow-sha1-accepts"),
    ],
)
def test_fedharness_run_follows_the_scenario_sts_setting(
    tmp_path: Path, sts_settings: dict[str, Any] | None, status: int
) -> None:
    """``fedharness run`` (moto in-process) in its own process: moto's state stays its own."""
    result = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "run", str(_sha1_scenario(tmp_path, sts_settings))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == status, result.stdout + result.stderr
    if status:
        assert "algorithm_not_allowed: SignatureMethod RSA-SHA1" in result.stdout
        assert "sts: {allow_sha1: true}" in result.stdout
    else:
        assert "3 passed, 0 failed" in result.stdout


def test_scenario_schema_describes_the_sts_setting() -> None:
    schema = Scenario.model_json_schema()
    settings = schema["$defs"]["StsSettings"]
    assert settings["additionalProperties"] is False
    assert settings["properties"]["allow_sha1"]["default"] is False
    assert "unverified" in settings["properties"]["allow_sha1"]["description"]


# --- KeyInfo: certificates and names only -------------------------------------------------------


def _key_info(root: etree._Element, element: str = "assertion") -> etree._Element:
    signed = assertion_of(root) if element == "assertion" else root
    return find(signature_of(signed), "ds:KeyInfo")


def _ds(local: str) -> str:
    return qname(NS.DS, local)


def _crypto_binary(value: int, *, sign_byte: bool = True) -> str:
    """Base64 of a big-endian integer; ``sign_byte`` adds Java's BigInteger.toByteArray() zero."""
    length = (value.bit_length() + (8 if sign_byte else 7)) // 8
    return base64.b64encode(value.to_bytes(length, "big")).decode()


def _rsa_key_value(cert_pem: bytes, *, sign_byte: bool = True) -> etree._Element:
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    numbers = public_key.public_numbers()
    key_value = etree.Element(_ds("KeyValue"))
    rsa_value = etree.SubElement(key_value, _ds("RSAKeyValue"))
    etree.SubElement(rsa_value, _ds("Modulus")).text = _crypto_binary(
        numbers.n, sign_byte=sign_byte
    )
    etree.SubElement(rsa_value, _ds("Exponent")).text = _crypto_binary(
        numbers.e, sign_byte=sign_byte
    )
    return key_value


def add_to_key_info(make: Callable[[], etree._Element], element: str = "assertion") -> Edit:
    def edit(root: etree._Element) -> None:
        _key_info(root, element).append(make())

    return edit


def _element(tag: str, text: str | None = None, *children: etree._Element) -> etree._Element:
    made = etree.Element(tag)
    made.text = text
    made.extend(children)
    return made


def _attacker_rsa_key_value() -> etree._Element:
    return _element(
        _ds("KeyValue"),
        None,
        _element(
            _ds("RSAKeyValue"),
            None,
            _element(_ds("Modulus"), "AQAB" * 64),
            _element(_ds("Exponent"), "AQAB"),
        ),
    )


REFUSED_CHILDREN = [
    pytest.param(_attacker_rsa_key_value, "ds:KeyValue", id="attacker-rsa-key-value"),
    pytest.param(
        lambda: _element(
            _ds("KeyValue"), None, _element(_ds("DSAKeyValue"), None, _element(_ds("Y"), "AQAB"))
        ),
        "ds:KeyValue",
        id="dsa-key-value",
    ),
    pytest.param(
        lambda: _element(
            _ds("KeyValue"),
            None,
            _element(f"{{{DSIG11}}}ECKeyValue", None, _element(f"{{{DSIG11}}}PublicKey", "BAEC")),
        ),
        "ds:KeyValue",
        id="ec-key-value",
    ),
    pytest.param(
        lambda: _element(
            _ds("KeyValue"),
            None,
            _element(
                _ds("RSAKeyValue"),
                None,
                _element(_ds("Modulus"), "not base64!"),
                _element(_ds("Exponent"), "AQAB"),
            ),
        ),
        "ds:KeyValue",
        id="rsa-key-value-not-base64",
    ),
    pytest.param(
        lambda: _element(_ds("KeyValue"), "AQAB"), "ds:KeyValue", id="key-value-with-text-only"
    ),
    pytest.param(
        lambda: _element(f"{{{DSIG_MORE}}}HMACKeyValue", "c2VjcmV0"),
        "HMACKeyValue",
        id="hmac-key-value",
    ),
    pytest.param(
        lambda: etree.Element(
            _ds("RetrievalMethod"),
            URI="file:///etc/passwd",
            Type="http://www.w3.org/2000/09/xmldsig#rawX509Certificate",
        ),
        "RetrievalMethod",
        id="retrieval-method",
    ),
    pytest.param(
        lambda: _element(_ds("PGPData"), None, _element(_ds("PGPKeyID"), "AQAB")),
        "PGPData",
        id="pgp-data",
    ),
    pytest.param(
        lambda: _element(_ds("SPKIData"), None, _element(_ds("SPKISexp"), "AQAB")),
        "SPKIData",
        id="spki-data",
    ),
    pytest.param(lambda: _element(_ds("MgmtData"), "secret"), "MgmtData", id="mgmt-data"),
    pytest.param(
        lambda: _element(f"{{{DSIG11}}}DEREncodedKeyValue", "AQAB"),
        "DEREncodedKeyValue",
        id="der-encoded-key-value",
    ),
    pytest.param(
        lambda: etree.Element(f"{{{DSIG11}}}KeyInfoReference", URI="#_elsewhere"),
        "KeyInfoReference",
        id="key-info-reference",
    ),
    pytest.param(
        lambda: _element(qname(NS.XENC, "EncryptedKey")), "EncryptedKey", id="encrypted-key"
    ),
    pytest.param(lambda: _element("{urn:evil}Anything", "x"), "Anything", id="foreign-element"),
    pytest.param(lambda: _element("KeyValue", "AQAB"), "KeyValue", id="unnamespaced-key-value"),
    pytest.param(
        lambda: _element(_ds("KeyName"), "idp", _element("{urn:evil}Inner")),
        "ds:KeyName",
        id="key-name-holding-an-element",
    ),
]


@pytest.mark.parametrize(("make", "named"), REFUSED_CHILDREN)
def test_keyinfo_offering_other_key_material_is_refused(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    make: Callable[[], etree._Element],
    named: str,
) -> None:
    """The signature verifies with the pinned key; what KeyInfo adds is refused anyway."""
    document = mutate(build(now, idp_key, "assertion"), add_to_key_info(make))
    message = expect_code(ErrorCode.KEY_INFO_NOT_ALLOWED, document, idp)
    assert named in message and "<saml:Assertion>" in message, message


def test_keyinfo_of_the_response_signature_is_checked_too(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    document = mutate(
        build(now, idp_key, "both"), add_to_key_info(_attacker_rsa_key_value, "response")
    )
    assert "<samlp:Response>" in expect_code(ErrorCode.KEY_INFO_NOT_ALLOWED, document, idp)


def test_key_value_of_another_pinned_key_is_refused(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair
) -> None:
    """During a rollover both keys are pinned; a KeyValue naming the one that did not sign is
    ambiguous key information, refused as signxml does."""
    trusted = TrustedIdp(ISSUER, (idp_key.cert_pem, idp_next_key.cert_pem))
    document = mutate(
        build(now, idp_key), add_to_key_info(lambda: _rsa_key_value(idp_next_key.cert_pem))
    )
    expect_code(ErrorCode.KEY_INFO_NOT_ALLOWED, document, trusted)


def test_a_signature_that_does_not_verify_is_reported_first(
    now: dt.datetime, idp_next_key: KeyPair, idp: TrustedIdp
) -> None:
    document = mutate(build(now, idp_next_key), add_to_key_info(_attacker_rsa_key_value))
    expect_code(ErrorCode.SIGNATURE_INVALID, document, idp)


def _keycloak_key_info(cert_pem: bytes, *, sign_byte: bool = True) -> Edit:
    """Keycloak's signer writes KeyName, X509Data, then the signing key's KeyValue."""

    def edit(root: etree._Element) -> None:
        key_info = _key_info(root)
        key_info.insert(0, _element(_ds("KeyName"), "EQxZBqlBK1w6iOgQhC2mXTMfx--u8xJlJIpMA2Ah"))
        key_info.append(_rsa_key_value(cert_pem, sign_byte=sign_byte))

    return edit


@pytest.mark.parametrize("sign_byte", [True, False], ids=["java-sign-byte", "minimal-bytes"])
def test_keycloak_key_info_is_accepted(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, sign_byte: bool
) -> None:
    document = mutate(
        build(now, idp_key), _keycloak_key_info(idp_key.cert_pem, sign_byte=sign_byte)
    )
    assert b"<ds:KeyName>" in document and b"<ds:RSAKeyValue>" in document
    verified = verify_response(document, idp)
    assert verified.name_id == NAME_ID and verified.certificate == idp_key.cert_pem


def test_key_name_alone_is_accepted(now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp) -> None:
    document = mutate(
        build(now, idp_key), add_to_key_info(lambda: _element(_ds("KeyName"), "signing-2026"))
    )
    assert verify_response(document, idp).name_id == NAME_ID


def test_strict_sts_refuses_an_attacker_key_value(sts: Sts) -> None:
    key_value = (
        b"<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>" + b"AQAB" * 64 + b"</ds:Modulus>"
        b"<ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>"
    )
    forge = sts.forge()

    def add_key_value(xml: bytes) -> bytes:
        assert xml.count(b"</ds:X509Data>") == 1
        return xml.replace(b"</ds:X509Data>", b"</ds:X509Data>" + key_value)

    verdict = sts.strict.judge(
        AssumeRoleWithSamlRequest.from_params(forge.request(forge.issue(edit=add_key_value)))
    )
    assert verdict.error is not None and verdict.error.code == "InvalidIdentityToken"
    assert verdict.failed_rule == "saml.signature"
    assert (verdict.error.detail or "").startswith("key_info_not_allowed:"), verdict.error.detail


# --- size cap -----------------------------------------------------------------------------------


def _padded(document: bytes, size: int) -> bytes:
    """Put unsigned padding in samlp:Extensions so the document is ``size`` bytes long."""
    head, tail = document.split(b"<samlp:Status", 1)
    wrapper = b"<samlp:Extensions><x></x></samlp:Extensions>"
    fill = size - len(document) - len(wrapper)
    assert fill >= 0
    return head + wrapper.replace(b"<x>", b"<x>" + b"A" * fill) + b"<samlp:Status" + tail


def test_document_over_the_cap_is_refused_before_parsing(idp: TrustedIdp) -> None:
    """Not even well-formed: refused by size, so the parser never saw it."""
    message = expect_code(ErrorCode.DOCUMENT_TOO_LARGE, b"<" * (MAX_DOCUMENT_BYTES + 1), idp)
    assert "1,048,577 bytes" in message and "1,048,576" in message


def test_five_megabytes_of_padding_is_refused_by_default(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    document = _padded(build(now, idp_key), 5 * 1024 * 1024)
    expect_code(ErrorCode.DOCUMENT_TOO_LARGE, document, idp)
    verified = verify_response(document, idp, max_document_bytes=8 * 1024 * 1024)
    assert verified.name_id == NAME_ID


def test_the_cap_is_inclusive(now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp) -> None:
    document = _padded(build(now, idp_key), 20_000)
    assert len(document) == 20_000
    assert verify_response(document, idp, max_document_bytes=20_000).name_id == NAME_ID
    expect_code(ErrorCode.DOCUMENT_TOO_LARGE, document, idp, max_document_bytes=19_999)


@pytest.mark.parametrize("cap", [0, -1, True, 1.5], ids=["zero", "negative", "bool", "float"])
def test_a_bad_cap_is_a_programming_error(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, cap: Any
) -> None:
    with pytest.raises(ValueError, match="max_document_bytes"):
        verify_response(build(now, idp_key), idp, max_document_bytes=cap)


def test_strict_sts_keeps_the_aws_limit_below_the_cap(sts: Sts) -> None:
    assert MAX_ASSERTION_CHARS * 3 // 4 < MAX_DOCUMENT_BYTES
    forge = sts.forge()
    verdict = sts.strict.judge(
        AssumeRoleWithSamlRequest.from_params(forge.request("A" * (MAX_ASSERTION_CHARS + 1)))
    )
    assert verdict.error is not None and verdict.error.code == "ValidationError"
    assert verdict.failed_rule == "request.assertion_length"


# --- wrapping shapes (saml-attacks.md §1 xsw-multi-signed, xsw-metadata, hidden assertions) -----


def _evil_copy(assertion: etree._Element, new_id: str | None = "_evil") -> etree._Element:
    evil = copy.deepcopy(assertion)
    for signature in evil.findall(_ds("Signature")):
        evil.remove(signature)
    if new_id is not None:
        evil.set("ID", new_id)
    find(evil, "saml:Subject/saml:NameID").text = EVIL
    return evil


def _extensions(root: etree._Element) -> etree._Element:
    """Return the Response's samlp:Extensions, placed where the schema puts it."""
    found = root.find(qname(NS.SAMLP, "Extensions"))
    if found is None:
        found = etree.Element(qname(NS.SAMLP, "Extensions"))
        find(root, "samlp:Status").addprevious(found)
    return found


def two_response_signatures(idp_key: KeyPair, now: dt.datetime) -> Edit:
    """A Response signature copied in twice from a response-signed sibling (ruby-saml
    invalids/multiple_signed.xml)."""
    donor = etree.fromstring(build(now, idp_key, "response"))

    def edit(root: etree._Element) -> None:
        for _ in range(2):
            find(root, "saml:Issuer").addnext(copy.deepcopy(signature_of(donor)))

    return edit


def extra_copy_of_the_response_signature(idp_key: KeyPair, now: dt.datetime) -> Edit:
    def edit(root: etree._Element) -> None:
        signature_of(root).addnext(copy.deepcopy(signature_of(root)))

    return edit


def _second_signed_assertion(idp_key: KeyPair, now: dt.datetime, *, reference: str | None) -> Edit:
    donor = etree.fromstring(
        build(
            now,
            idp_key,
            "assertion",
            assertion_changes={"assertion_id": "_assertion2", "name_id": EVIL},
        )
    )

    def edit(root: etree._Element) -> None:
        second = assertion_of(donor)
        if reference is not None:
            find(second, "ds:Signature/ds:SignedInfo/ds:Reference").set("URI", reference)
        root.append(copy.deepcopy(second))

    return edit


def two_signed_assertions(idp_key: KeyPair, now: dt.datetime) -> Edit:
    """Two assertions, each genuinely signed by the IdP (ruby-saml multiple_assertions)."""
    return _second_signed_assertion(idp_key, now, reference=None)


def second_assertion_referencing_the_first(idp_key: KeyPair, now: dt.datetime) -> Edit:
    """xsw-multi-signed: the second assertion's signature points at the first one's ID."""
    return _second_signed_assertion(idp_key, now, reference="#_assertion1")


def _signed_metadata(idp_key: KeyPair) -> etree._Element:
    metadata = etree.fromstring(
        metadata_bytes(MetadataSpec(entity_id=ISSUER, signing_keys=(idp_key,), endpoints=ENDPOINTS))
    )
    metadata.set("ID", "_metadata1")
    sign_element(metadata, idp_key)
    return metadata


def signed_metadata_in_unsigned_response(idp_key: KeyPair, now: dt.datetime) -> Edit:
    """xsw-metadata: the IdP's signed metadata rides along an unsigned, evil Response (ruby-saml
    response_wrapped.xml.base64, python3-saml wrapped_response_2.xml.base64)."""
    metadata = _signed_metadata(idp_key)

    def edit(root: etree._Element) -> None:
        _extensions(root).append(copy.deepcopy(metadata))
        find(root, "//saml:NameID").text = EVIL

    return edit


def signed_assertion_wrapped_in_metadata(idp_key: KeyPair, now: dt.datetime) -> Edit:
    """The genuine signed assertion hides in a metadata-like md:EntityDescriptor; an evil
    unsigned copy takes its place."""

    def edit(root: etree._Element) -> None:
        assertion = assertion_of(root)
        assertion.addprevious(_evil_copy(assertion))
        wrapper = etree.SubElement(
            _extensions(root), qname(NS.MD, "EntityDescriptor"), entityID=ISSUER
        )
        wrapper.append(assertion)

    return edit


def only_assertion_wrapped_in_metadata(idp_key: KeyPair, now: dt.datetime) -> Edit:
    def edit(root: etree._Element) -> None:
        assertion = assertion_of(root)
        wrapper = etree.Element(qname(NS.MD, "EntityDescriptor"), entityID=ISSUER)
        assertion.addprevious(wrapper)
        wrapper.append(assertion)

    return edit


def evil_assertion_in_status_detail(idp_key: KeyPair, now: dt.datetime) -> Edit:
    def edit(root: etree._Element) -> None:
        detail = etree.SubElement(find(root, "samlp:Status"), qname(NS.SAMLP, "StatusDetail"))
        detail.append(_evil_copy(assertion_of(root)))

    return edit


def evil_assertion_in_advice(idp_key: KeyPair, now: dt.datetime) -> Edit:
    def edit(root: etree._Element) -> None:
        assertion = assertion_of(root)
        advice = etree.Element(qname(NS.SAML, "Advice"))
        find(assertion, "saml:AuthnStatement").addprevious(advice)
        advice.append(_evil_copy(assertion))

    return edit


def _evil_in_extensions(tag: str) -> Callable[[KeyPair, dt.datetime], Edit]:
    def make(idp_key: KeyPair, now: dt.datetime) -> Edit:
        def edit(root: etree._Element) -> None:
            evil = _evil_copy(assertion_of(root), new_id="_extension1")
            evil.tag = tag
            _extensions(root).append(evil)

        return edit

    return make


@pytest.mark.parametrize(
    ("sign", "make", "code"),
    [
        pytest.param(
            "assertion",
            two_response_signatures,
            ErrorCode.SIGNATURE_PLACEMENT,
            id="two-response-signatures",
        ),
        pytest.param(
            "response",
            extra_copy_of_the_response_signature,
            ErrorCode.SIGNATURE_PLACEMENT,
            id="response-signature-twice",
        ),
        pytest.param(
            "assertion",
            two_signed_assertions,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="two-signed-assertions",
        ),
        pytest.param(
            "assertion",
            second_assertion_referencing_the_first,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="xsw-multi-signed",
        ),
        pytest.param(
            "none",
            signed_metadata_in_unsigned_response,
            ErrorCode.SIGNATURE_PLACEMENT,
            id="xsw-metadata/signed-metadata-in-unsigned-response",
        ),
        pytest.param(
            "assertion",
            signed_assertion_wrapped_in_metadata,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="xsw-metadata/assertion-in-entity-descriptor",
        ),
        pytest.param(
            "assertion",
            only_assertion_wrapped_in_metadata,
            ErrorCode.ASSERTION_MISPLACED,
            id="xsw-metadata/only-assertion-in-entity-descriptor",
        ),
        pytest.param(
            "assertion",
            evil_assertion_in_status_detail,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="evil-assertion-in-status-detail/assertion-signed",
        ),
        pytest.param(
            "response",
            evil_assertion_in_status_detail,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="evil-assertion-in-status-detail/response-signed",
        ),
        pytest.param(
            "response",
            evil_assertion_in_advice,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="evil-assertion-in-advice/response-signed",
        ),
        pytest.param(
            "assertion",
            _evil_in_extensions(qname(NS.SAML, "Assertion")),
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="evil-assertion-in-extensions",
        ),
        pytest.param(
            "assertion",
            _evil_in_extensions("Assertion"),
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="unnamespaced-assertion-in-extensions",
        ),
        pytest.param(
            "assertion",
            _evil_in_extensions("{urn:evil}Assertion"),
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="foreign-namespace-assertion-in-extensions",
        ),
    ],
)
def test_wrapping_shapes_are_refused_before_any_crypto(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    sign: str,
    make: Callable[[KeyPair, dt.datetime], Edit],
    code: ErrorCode,
) -> None:
    expect_code(code, mutate(build(now, idp_key, sign), make(idp_key, now)), idp)
