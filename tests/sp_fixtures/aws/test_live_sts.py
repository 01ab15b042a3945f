"""The live cross-check against a stand-in for AWS: moto's own server, which checks nothing.

Plain moto accepts what AWS refuses (aws-sts-saml.md §5.3) and crashes on what AWS accepts
(§5.6), so every kind of disagreement shows up: AWS accepting what we refuse, AWS failing what we
accept, both refusing with different codes. Agreement on a refusal, which moto cannot produce, is
checked with botocore's Stubber in AWS's place.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.yamlfile import load_yaml, validate
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.iam_view import LiveIam, pin_moto_account
from sp_fixtures.aws.live_sts import (
    AwsUnreachableError,
    Disagreement,
    LiveSts,
    find_disagreement,
)
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.sts import RULES, AssumeRoleWithSamlRequest, StrictSts
from tests.sp_fixtures.aws.sts_cases import CASES, CORP, WORLD, Case, Forge

ACCOUNT = "111111111111"
MOTO_ACCOUNT_HEADER = "x-moto-account-id"
BY_ID = {case.id: case for case in CASES}


def _case(case_id: str) -> Case:
    return BY_ID[case_id]


def _session() -> Any:
    """Return a boto3 session whose every request lands in ACCOUNT of the moto server."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    def add_header(request: Any, **_: object) -> None:
        request.headers[MOTO_ACCOUNT_HEADER] = ACCOUNT

    session.events.register("request-created", add_header)
    return session


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # The server shares moto's in-process backends: leave them empty for other tests.
        reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our local server
        server.stop()


@pytest.fixture(scope="module")
def provider(server_url: str) -> IdentityProvider:
    """Provision the world of sts/world.yaml into the server with boto3 IAM calls."""
    idp = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    def iam_client(account_id: str) -> Any:
        client = session.client("iam", endpoint_url=server_url)
        pin_moto_account(client, account_id)
        return client

    provision(
        world,
        iam_client_factory=iam_client,
        idp_metadata=idp.metadata(),
        base_dir=WORLD.parent,
        scenario_name="live-sts",
    )
    return idp


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_pair(
        generate_self_signed("not in any metadata"), tmp_path_factory.mktemp("stranger"), "stranger"
    )


@pytest.fixture(scope="module")
def session() -> Any:
    """One session for the module: boto3 loads service models once per session."""
    return _session()


@pytest.fixture
def forge(provider: IdentityProvider, stranger: tuple[Path, Path]) -> Forge:
    return Forge(provider, dt.datetime.now(dt.UTC), stranger)


@pytest.fixture
def live(server_url: str, session: Any, provider: IdentityProvider) -> LiveSts:
    return LiveSts(session, endpoint_url=server_url, max_attempts=1)


def test_valid_assertion_both_accept(live: LiveSts, forge: Forge) -> None:
    exchange = live.assume_role_with_saml(**forge.request())
    assert exchange.aws_accepted and exchange.we_accepted
    assert exchange.finding is None and live.findings == []
    assert exchange.aws_status == 200
    assert exchange.aws_answer is not None
    user: Any = exchange.aws_answer["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@corp.example"
    assert exchange.verdict.passed_rules == tuple(rule.id for rule in RULES)
    assert exchange.our_error_code is None and exchange.our_rule is None


def test_credentials_stay_out_of_repr(live: LiveSts, forge: Forge) -> None:
    exchange = live.assume_role_with_saml(**forge.request())
    assert exchange.aws_answer is not None
    credentials: Any = exchange.aws_answer["Credentials"]
    assert credentials["SecretAccessKey"] not in repr(exchange)


@pytest.mark.parametrize(
    "case_id",
    [
        "unsigned",
        "tampered-after-signing",
        "confirmation-expired",
        "issued-over-5-minutes-ago",
        "audience-not-aws",
        "recipient-not-aws",
        "provider-does-not-exist",
        "role-does-not-exist",
        "trust-policy-trusts-another-provider",
    ],
)
def test_aws_accepts_what_we_refuse(
    live: LiveSts, forge: Forge, case_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    case = _case(case_id)
    with caplog.at_level(logging.WARNING, logger="sp_fixtures.aws.live_sts"):
        exchange = live.assume_role_with_saml(**case.build(forge))
    assert exchange.aws_accepted and not exchange.we_accepted
    finding = exchange.finding
    assert finding is not None
    assert finding.kind is Disagreement.AWS_ACCEPTED_WE_REFUSED
    assert (finding.our_error_code, finding.rule) == (case.code, case.rule)
    assert finding.aws_error_code is None
    assert finding.describe().startswith(
        f"fidelity finding: AWS accepted but fedharness refused with {case.code} "
        f"(rule {case.rule}: "
    )
    assert live.findings == [finding]
    assert [record.getMessage() for record in caplog.records] == [finding.describe()]


def test_we_accept_what_aws_fails_on(live: LiveSts, forge: Forge) -> None:
    # Two Role values are valid for AWS and for us; moto crashes on them (HTTP 500 HTML page).
    exchange = live.assume_role_with_saml(**_case("ok-provider-first-pair").build(forge))
    assert exchange.we_accepted and not exchange.aws_accepted
    assert (exchange.aws_error_code, exchange.aws_status) == ("InternalFailure", 500)
    finding = exchange.finding
    assert finding is not None and finding.kind is Disagreement.WE_ACCEPTED_AWS_REFUSED
    assert finding.rule is None and finding.our_error_code is None
    assert finding.describe().startswith(
        "fidelity finding: fedharness accepted but AWS refused with InternalFailure (unparseable"
    )


@pytest.mark.parametrize("case_id", ["not-xml", "no-role-session-name", "no-role-attribute"])
def test_both_refuse_with_different_codes(live: LiveSts, forge: Forge, case_id: str) -> None:
    case = _case(case_id)
    exchange = live.assume_role_with_saml(**case.build(forge))
    assert not exchange.we_accepted and not exchange.aws_accepted
    finding = exchange.finding
    assert finding is not None and finding.kind is Disagreement.DIFFERENT_ERRORS
    assert (finding.aws_error_code, finding.aws_status) == ("InternalFailure", 500)
    assert (finding.our_error_code, finding.rule) == (case.code, case.rule)
    assert finding.describe().startswith(
        "fidelity finding: AWS refused with InternalFailure (unparseable reply: "
    )
    assert f"but fedharness refused with {case.code} (rule {case.rule}: " in finding.describe()


def test_parameter_refused_while_decoding_is_still_cross_checked(
    live: LiveSts, forge: Forge
) -> None:
    # DurationSeconds that is no integer: refused before any rule runs. moto 5.2.1 ignores the
    # field (aws-sts-saml.md §5.1), later 5.2 releases crash on it: either way, a finding.
    exchange = live.assume_role_with_saml(**forge.request(DurationSeconds="an hour"))
    finding = exchange.finding
    assert finding is not None
    assert finding.kind in (Disagreement.AWS_ACCEPTED_WE_REFUSED, Disagreement.DIFFERENT_ERRORS)
    assert (finding.our_error_code, finding.rule) == ("ValidationError", "request.duration_seconds")
    assert "Member must be an integer" in (finding.our_error_message or "")
    assert exchange.request.RoleArn == finding.role_arn == forge.request()["RoleArn"]
    assert live.findings == [finding]


def _stubbed_refusal(live: LiveSts, code: str, message: str, status: int) -> Stubber:
    stubber = Stubber(live.client)
    stubber.add_client_error(
        "assume_role_with_saml",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )
    return stubber


def test_same_refusal_is_no_finding(live: LiveSts, forge: Forge) -> None:
    params = _case("unsigned").build(forge)
    with _stubbed_refusal(live, "InvalidIdentityToken", "Response signature invalid", 400):
        exchange = live.assume_role_with_saml(**params)
    assert (exchange.aws_error_code, exchange.aws_status) == ("InvalidIdentityToken", 400)
    assert exchange.our_error_code == "InvalidIdentityToken"
    assert exchange.our_rule == "saml.signature"
    assert exchange.finding is None and live.findings == []


def test_aws_refusing_with_another_code_is_a_finding(live: LiveSts, forge: Forge) -> None:
    params = _case("unsigned").build(forge)
    with _stubbed_refusal(live, "AccessDenied", "Not authorized", 403):
        exchange = live.assume_role_with_saml(**params)
    assert exchange.finding is not None
    assert exchange.finding.describe() == (
        "fidelity finding: AWS refused with AccessDenied (Not authorized) but fedharness "
        "refused with InvalidIdentityToken (rule saml.signature: Response signature invalid) "
        f"[RoleArn {params['RoleArn']}]"
    )


def test_verdict_follows_a_metadata_update(
    live: LiveSts, session: Any, server_url: str, provider: IdentityProvider, forge: Forge
) -> None:
    """The parsed metadata is cached per document: an updated document is read afresh."""
    iam = session.client("iam", endpoint_url=server_url)
    stranger_metadata = (
        forge.variant(key=forge.stranger_key[0], cert=forge.stranger_key[1], next_key=None)
        .metadata()
        .decode()
    )
    assert live.assume_role_with_saml(**forge.request()).finding is None
    iam.update_saml_provider(SAMLProviderArn=CORP, SAMLMetadataDocument=stranger_metadata)
    try:
        exchange = live.assume_role_with_saml(**forge.request())
    finally:
        iam.update_saml_provider(
            SAMLProviderArn=CORP, SAMLMetadataDocument=provider.metadata().decode()
        )
    assert exchange.finding is not None
    assert (exchange.finding.our_error_code, exchange.finding.rule) == (
        "InvalidIdentityToken",
        "saml.signature",
    )
    assert live.assume_role_with_saml(**forge.request()).finding is None


def test_unreachable_sts_raises(server_url: str, session: Any, forge: Forge) -> None:
    closed = _closed_port_url()
    live = LiveSts(
        session, endpoint_url=closed, iam=LiveIam(session, endpoint_url=server_url), max_attempts=1
    )
    with pytest.raises(AwsUnreachableError, match=f"could not reach AWS STS at {closed}"):
        live.assume_role_with_saml(**forge.request())
    assert live.findings == []


def test_unreachable_iam_raises(session: Any, forge: Forge) -> None:
    live = LiveSts(session, endpoint_url=_closed_port_url(), max_attempts=1)
    with pytest.raises(AwsUnreachableError, match="could not reach IAM"):
        live.assume_role_with_saml(**forge.request())


def test_find_disagreement_on_agreement_is_none(forge: Forge, live: LiveSts) -> None:
    request = AssumeRoleWithSamlRequest.from_params(_case("unsigned").build(forge))
    verdict = StrictSts(live.strict.iam).judge(request)
    assert find_disagreement(request, verdict, aws_error_code="InvalidIdentityToken") is None
    finding = find_disagreement(request, verdict, aws_error_code=None)
    assert finding is not None and finding.kind is Disagreement.AWS_ACCEPTED_WE_REFUSED
