"""The attack catalogue against the hardened verifier and the strict STS (Python API and served).

Every variant is built now from a response freshly signed by the mock IdP of
``tests/data/attacks/world.yaml`` (alice may take ReadOnly; the attacks try Admin as
admin@corp.example). Each must be refused with the reason the catalogue gives; each control
must be accepted. Wrapping variants are shown to be real: their signature still verifies.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from idp.provider import IdentityProvider
from idp.yamlfile import load_yaml, validate
from sp_fixtures.attacks.catalogue import Attack, Family, load_catalogue
from sp_fixtures.attacks.generator import (
    AttackGenerator,
    BuiltAttack,
    Target,
    carries_valid_signature,
)
from sp_fixtures.attacks.runner import sts_parameters
from sp_fixtures.attacks.workshop import BUILDERS
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts, Verdict
from sp_fixtures.verify import TrustedIdp, VerificationError, verify_response
from sp_fixtures.xmldsig import ErrorCode
from tests.conftest import DATA
from tests.idp.saml.independent import XMLSEC1, needs_xmlsec1

WORLD = DATA / "attacks" / "world.yaml"
ATTACKS = load_catalogue()
ADMIN = "arn:aws:iam::111111111111:role/Admin"
READ_ONLY = "arn:aws:iam::111111111111:role/ReadOnly"
SHA1 = [a for a in ATTACKS if a.expect.requires == "sha1-off"]
#: Requirements the strict STS meets with its default settings (SHA-1 off, replays not tracked).
STS_DEFAULTS = {"sha1-off"}
#: Wrapping variants whose signature is meant to break (they rewrite SignedInfo or the ID).
SIGNATURE_BROKEN_ON_PURPOSE = {"xsw-response-id-changed", "xpath-injection-reference-uri"}


def by_verifier(*, checked: bool) -> list[Attack]:
    return [a for a in ATTACKS if (a.expect.verifier is not None) is checked]


@dataclass
class World:
    provider: IdentityProvider
    trusted: TrustedIdp
    sts: StrictSts
    sts_replays: StrictSts
    server: RunningServer
    server_replays: RunningServer

    def generator(self) -> AttackGenerator:
        return AttackGenerator(self.provider, Target(user="alice", evil_role=ADMIN))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    provider = IdentityProvider.from_file(WORLD)
    aws = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            aws,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name="attack-catalogue",
        )
        sts = StrictSts(MotoIam(provisioned.extras))
        sts_replays = StrictSts(MotoIam(provisioned.extras), refuse_replays=True)
        server = serve_in_thread(StrictStsApp(sts))
        server_replays = serve_in_thread(StrictStsApp(sts_replays))
        try:
            yield World(
                provider,
                TrustedIdp.from_metadata(provider.metadata()),
                sts,
                sts_replays,
                server,
                server_replays,
            )
        finally:
            server.stop()
            server_replays.stop()


@pytest.fixture(scope="module")
def generator(world: World) -> AttackGenerator:
    return world.generator()


def judge(sts: StrictSts, built: BuiltAttack) -> Verdict:
    """Send every document in order; return the verdict on the last."""
    verdict: Verdict | None = None
    for index, saml_response in enumerate(built.saml_responses):
        params = {**sts_parameters(built), "SAMLAssertion": saml_response}
        verdict = sts.judge(AssumeRoleWithSamlRequest.from_params(params))
        if index < len(built.documents) - 1:
            assert verdict.error is None, f"priming response refused: {verdict.error}"
    assert verdict is not None
    return verdict


def call_server(server: RunningServer, built: BuiltAttack) -> dict[str, Any]:
    client = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    answer: dict[str, Any] = {}
    for saml_response in built.saml_responses:
        answer = client.assume_role_with_saml(
            **{**sts_parameters(built), "SAMLAssertion": saml_response}
        )
    return answer


# --- the catalogue itself -------------------------------------------------------------------


def test_catalogue_covers_every_family_with_over_forty_variants() -> None:
    assert len(ATTACKS) >= 40
    assert {a.family for a in ATTACKS} == set(Family)
    assert {a.id for a in ATTACKS} == set(BUILDERS)
    for xsw in ("xsw1", "xsw2", "xsw4", "xsw6", "xsw7", "xsw8"):
        forms = {a.form for a in ATTACKS if a.id == xsw or a.id.startswith(xsw + "-")}
        assert forms == {"faithful", "schema-valid"}, xsw
    assert all(a.sources and a.changes for a in ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_evil_values_differ_from_the_genuine_ones(
    generator: AttackGenerator, attack: Attack
) -> None:
    built = generator.build(attack)
    assert built.genuine.name_id == "alice@corp.example"
    assert built.genuine.role_arn == READ_ONLY
    if attack.evil == "none":
        assert built.seen_if_accepted is None
        assert built.role_arn == READ_ONLY
    else:
        assert built.seen_if_accepted is not None
        assert built.seen_if_accepted != built.genuine
        assert built.role_arn == (ADMIN if "role" in attack.evil else READ_ONLY)


@pytest.mark.parametrize(
    "attack",
    [
        a
        for a in ATTACKS
        if a.family in (Family.WRAPPING, Family.NAMESPACE)
        and a.id not in SIGNATURE_BROKEN_ON_PURPOSE
    ],
    ids=lambda a: a.id,
)
def test_wrapping_variants_keep_a_signature_that_still_verifies(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    """A refusal must come from the structure, not from bytes the generator broke."""
    built = generator.build(attack)
    assert carries_valid_signature(built.document, world.provider.signing_key.cert_pem)


def test_the_check_of_intact_signatures_can_fail(world: World, generator: AttackGenerator) -> None:
    tampered = generator.control().document.replace(b">alice@corp.example<", b">admin<")
    assert not carries_valid_signature(tampered, world.provider.signing_key.cert_pem)


# --- the verifier ---------------------------------------------------------------------------


def test_control_is_accepted_by_the_verifier(world: World, generator: AttackGenerator) -> None:
    verified = verify_response(generator.control().document, world.trusted)
    assert verified.name_id == "alice@corp.example"
    assert verified.values("https://aws.amazon.com/SAML/Attributes/Role")[0].startswith(READ_ONLY)


@pytest.mark.parametrize("attack", by_verifier(checked=True), ids=lambda a: a.id)
def test_verifier_refuses_with_the_expected_code(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    built = generator.build(attack)
    with pytest.raises(VerificationError) as refused:
        verify_response(built.document, world.trusted)
    assert refused.value.code == attack.expect.verifier, refused.value.message


@pytest.mark.parametrize("attack", SHA1, ids=lambda a: a.id)
def test_verifier_accepts_sha1_only_when_opted_in(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    with pytest.raises(VerificationError) as refused:
        verify_response(generator.build(attack).document, world.trusted)
    assert "allow_sha1=True" in refused.value.message
    verified = verify_response(generator.build(attack).document, world.trusted, allow_sha1=True)
    assert verified.name_id == "alice@corp.example"


@pytest.mark.parametrize("attack", by_verifier(checked=False), ids=lambda a: a.id)
def test_verifier_passes_on_only_signed_values_for_the_sp_to_check(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    """Times, audience, recipient, replay and attribute rules are the SP's checks."""
    built = generator.build(attack)
    verified = verify_response(built.document, world.trusted)
    expected = built.seen_if_accepted or built.genuine
    assert verified.name_id == expected.name_id
    assert attack.expect.sts_rule is not None and attack.expect.sts_rule != "saml.signature"


# --- the strict STS: Python API -------------------------------------------------------------


def test_control_is_accepted_by_the_strict_sts(world: World, generator: AttackGenerator) -> None:
    for sts in (world.sts, world.sts_replays):
        control = generator.control()
        verdict = judge(sts, control)
        assert verdict.error is None, verdict.error
        answer = sts.answer(verdict.exchange)
        assert answer["Subject"] == "alice@corp.example"
        assert str(answer["AssumedRoleUser"]["Arn"]).split("/")[-2] == "ReadOnly"  # type: ignore[index]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_strict_sts_refuses_with_the_expected_rule(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    expect = attack.expect
    for sts in (world.sts, world.sts_replays):
        verdict = judge(sts, generator.build(attack))
        refused_by_default = expect.requires is None or expect.requires in STS_DEFAULTS
        if sts.refuse_replays and expect.requires == "replay-protection":
            refused_by_default = True
        if not refused_by_default:
            assert verdict.error is None, f"{attack.id}: documented as accepted by default"
            continue
        assert verdict.error is not None, f"{attack.id} ACCEPTED (replays={sts.refuse_replays})"
        assert verdict.failed_rule == expect.sts_rule, verdict.error.detail
        assert verdict.error.code == expect.aws_error
        if expect.sts_rule == "saml.signature":
            assert (verdict.error.detail or "").startswith(str(expect.verifier))


@pytest.mark.parametrize("attack", SHA1, ids=lambda a: a.id)
def test_strict_sts_accepts_sha1_only_when_opted_in(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    opted_in = StrictSts(world.sts.iam, allow_sha1=True)
    verdict = judge(opted_in, generator.build(attack))
    assert verdict.error is None, verdict.error.detail
    assert judge(world.sts, generator.build(attack)).failed_rule == "saml.signature"


# --- the strict STS: served over HTTP -------------------------------------------------------


def test_control_is_accepted_by_the_served_sts(world: World, generator: AttackGenerator) -> None:
    for server in (world.server, world.server_replays):
        answer = call_server(server, generator.control())
        assert answer["Subject"] == "alice@corp.example"
        assert ":assumed-role/ReadOnly/" in answer["AssumedRoleUser"]["Arn"]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_served_sts_refuses_with_the_expected_error(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    server = world.server_replays if attack.family is Family.REPLAY else world.server
    built = generator.build(attack)
    if attack.expect.aws_error is None:
        answer = call_server(server, built)
        assert answer["Subject"] == "alice@corp.example", "documented as accepted by default"
        return
    with pytest.raises(ClientError) as refused:
        call_server(server, built)
    assert refused.value.response["Error"]["Code"] == attack.expect.aws_error


@pytest.mark.parametrize(
    "attack", [a for a in ATTACKS if a.family is Family.REPLAY], ids=lambda a: a.id
)
def test_replays_pass_a_served_sts_that_does_not_track_them(
    world: World, generator: AttackGenerator, attack: Attack
) -> None:
    """AWS's behaviour inside the validity window is undocumented: off by default."""
    answer = call_server(world.server, generator.build(attack))
    assert answer["Subject"] == "alice@corp.example"


def test_generator_uses_current_times(generator: AttackGenerator) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    document = generator.build("xsw3").document
    stamp = document.split(b'IssueInstant="', 1)[1][:19].decode()
    assert dt.datetime.fromisoformat(stamp + "+00:00") >= before.replace(microsecond=0)
    assert ErrorCode.MULTIPLE_ASSERTIONS.value == "multiple_assertions"


# --- cross-check: pysaml2 as an independent SP (information, not requirements) --------------

PYSAML2_SP = "urn:fedharness:test-sp"
PYSAML2_ACS = "http://127.0.0.1/acs"


def pysaml2_verdict(built: BuiltAttack, metadata: Path) -> tuple[bool, str]:
    """Feed every document to one pysaml2 SP; return (accepted, what it said or saw)."""
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    config = SPConfig()
    config.load(
        {
            "entityid": PYSAML2_SP,
            "metadata": {"local": [str(metadata)]},
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(PYSAML2_ACS, BINDING_HTTP_POST)]},
                    "allow_unsolicited": True,
                    "want_assertions_or_response_signed": True,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                }
            },
            "xmlsec_binary": XMLSEC1,
            "allow_unknown_attributes": True,
        }
    )
    client = Saml2Client(config)
    detail = ""
    for saml_response in built.saml_responses:
        try:
            parsed = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST)
        except Exception as exc:  # noqa: BLE001 - any refusal is information
            said = (str(exc).splitlines() or [""])[0][:90]
            return False, f"{type(exc).__name__}: {said}"
        if parsed is None:
            return False, "no response"
        roles = parsed.get_identity().get("https://aws.amazon.com/SAML/Attributes/Role", [])
        name_id = parsed.name_id.text if parsed.name_id else None
        detail = f"NameID {name_id!r}, Role {roles[0] if roles else None!r}"
    return True, detail


@needs_xmlsec1
def test_pysaml2_crosscheck_report(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Record what pysaml2 (an independent SP) makes of every variant; only the control is a
    requirement. Set FEDHARNESS_CROSSCHECK_REPORT=path to keep the report."""
    folder = tmp_path_factory.mktemp("pysaml2")
    metadata = folder / "idp.xml"
    metadata.write_bytes(world.provider.metadata())
    generator = AttackGenerator(
        world.provider, Target(user="alice", sp="loopback-sp", evil_role=ADMIN)
    )
    control_accepted, control_detail = pysaml2_verdict(generator.control(), metadata)
    assert control_accepted, control_detail
    rows = [
        "| id | family | pysaml2 | detail |",
        "|---|---|---|---|",
        f"| control | - | accepted | {control_detail} |",
    ]
    accepted: list[str] = []
    for attack in ATTACKS:
        ok, detail = pysaml2_verdict(generator.build(attack), metadata)
        if ok:
            accepted.append(attack.id)
        rows.append(
            f"| {attack.id} | {attack.family.value} | "
            f"{'ACCEPTED' if ok else 'refused'} | {detail.replace('|', '/')} |"
        )
    summary = (
        f"pysaml2 {pysaml2_version()}: control accepted; {len(ATTACKS) - len(accepted)} "
        f"of {len(ATTACKS)} variants refused; accepted: {', '.join(accepted) or 'none'}"
    )
    report = "\n".join([f"# pysaml2 cross-check\n\n{summary}\n", *rows]) + "\n"
    path = Path(os.environ.get("FEDHARNESS_CROSSCHECK_REPORT") or folder / "pysaml2.md")
    path.write_text(report, encoding="utf-8")
    print(summary)  # noqa: T201 - shown with -s
    assert path.read_text(encoding="utf-8").count("\n| ") == len(ATTACKS) + 2


def pysaml2_version() -> str:
    from importlib.metadata import version

    return version("pysaml2")
