"""IAM's SAML-provider calls answer as IAM does, through boto3 against ``sts serve`` and in-process
provisioning: metadata IAM cannot parse is InvalidInput, a taken name EntityAlreadyExists, the
quotas (100 providers per account, 50 tags and 10 signing keys per provider) LimitExceeded
(aws-sts-saml.md §1.1, §3.2, §4); and every provider has a SAMLProviderUUID, which a scenario
can fix."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from moto import mock_aws

from idp.provider import IdentityProvider
from idp.saml.constants import NS, qname
from idp.yamlfile import load_yaml, validate
from sp_fixtures.aws.account import (
    PROVIDER_UUID_PATTERN,
    AwsWorld,
    new_provider_uuid,
)
from sp_fixtures.aws.iam_view import (
    PROVIDER_UUID_HEADER,
    LiveIam,
    MotoIam,
    ProviderExtras,
    moto_iam_client,
    pin_moto_account,
)
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import StrictSts
from tests.conftest import CERTS
from tests.sp_fixtures.aws.sts_cases import WORLD

ACCOUNT = "111111111111"
MOTO_DEFAULT_ACCOUNT = "123456789012"
FIXED_UUID = "SAMLSP4SHN3UIS2D558H46"
# A 512-bit RSA certificate (public part only), too weak for IAM; made with
# `openssl req -x509 -newkey rsa:512 -nodes -subj /CN=weak` (cryptography refuses such keys).
WEAK_CERT = (
    "MIIBdTCCAR+gAwIBAgIUWDgXyQ3VBkYIqJ47rr+MOT1Q//8wDQYJKoZIhvcNAQELBQAwDzENMAsGA1UEAwwEd2Vh"
    "azAeFw0yNjExMjgwNjA0MTJaFw0yNjExMzAwNjA0MTJaMA8xDTALBgNVBAMMBHdlYWswXDANBgkqhkiG9w0BAQEF"
    "AANLADBIAkEAr7sH6TikiveyxXXVIUjrZv3Wa2ezJWKjnlu+CMhhL3zpe9W7r0YQZydNJbDlN2YW2v3rcciHBEOJ"
    "vUOO0GUmpQIDAQABo1MwUTAdBgNVHQ4EFgQU4ZJueDxR2RhlPKTL2CO1mIhy9fAwHwYDVR0jBBgwFoAU4ZJueDxR"
    "2RhlPKTL2CO1mIhy9fAwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAANBAARVViZz0J9pc187WwR1yzP8"
    "kTv8uG15Iix8XdrEXgkHS99x5LlFuzNDvYkOmoeOZIQ8Al8zC8YhuOxkVEvgRQQ="
)


def ec_cert() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec idp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return "".join(
        line
        for line in cert.public_bytes(serialization.Encoding.PEM).decode().splitlines()
        if "-----" not in line
    )


def with_certs(metadata: str, cert: str) -> str:
    """Return ``metadata`` with every signing certificate replaced by ``cert``."""
    return re.sub(
        r"<ds:X509Certificate>[^<]+</ds:X509Certificate>",
        f"<ds:X509Certificate>{cert}</ds:X509Certificate>",
        metadata,
    )


def with_keys(metadata: str, count: int) -> str:
    """Return ``metadata`` with ``count`` signing KeyDescriptors (copies of the first)."""
    root = etree.fromstring(metadata.encode())
    descriptor = root.find(qname(NS.MD, "IDPSSODescriptor"))
    assert descriptor is not None
    keys = descriptor.findall(qname(NS.MD, "KeyDescriptor"))
    for key in keys[1:]:
        descriptor.remove(key)
    for _ in range(count - 1):
        keys[0].addnext(copy.deepcopy(keys[0]))
    assert len(descriptor.findall(qname(NS.MD, "KeyDescriptor"))) == count
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


@pytest.fixture(scope="module")
def good_metadata() -> str:
    return IdentityProvider.from_file(WORLD).metadata().decode()


# Each case: metadata built from the good one → the error IAM answers.
BAD_METADATA: dict[str, tuple[Callable[[str], str], str, str]] = {
    "utf8-bom": (lambda good: "\ufeff" + good, "InvalidInput", "Could not parse metadata"),
    "not-xml": (lambda good: "x" * 1200, "InvalidInput", "Could not parse metadata"),
    "wrong-root": (
        lambda good: "<html xmlns='http://www.w3.org/1999/xhtml'>" + " " * 1000 + "</html>",
        "InvalidInput",
        "Could not parse metadata",
    ),
    "512-bit-rsa-cert": (
        lambda good: with_certs(good, WEAK_CERT),
        "InvalidInput",
        "Unable to parse metadata",
    ),
    "ec-cert": (
        lambda good: with_certs(good, ec_cert()),
        "InvalidInput",
        "Unable to parse metadata",
    ),
    "cert-not-der": (
        lambda good: with_certs(good, "bm90IGEgY2VydGlmaWNhdGU="),
        "InvalidInput",
        "Unable to parse metadata",
    ),
}


# --- through `sts serve` ------------------------------------------------------------------------


@dataclass
class Served:
    server: RunningServer
    extras: ProviderExtras
    metadata: str

    def iam(self, account_id: str | None = ACCOUNT) -> Any:
        """An IAM client of the server; ``account_id=None`` names no account (moto's default)."""
        client = boto3.client(
            "iam",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        if account_id is not None:
            pin_moto_account(client, account_id)
        return client

    def create(self, name: str, account_id: str = ACCOUNT, **request: Any) -> str:
        request.setdefault("SAMLMetadataDocument", self.metadata)
        return str(
            self.iam(account_id).create_saml_provider(Name=name, **request)["SAMLProviderArn"]
        )

    def names(self, account_id: str = ACCOUNT) -> set[str]:
        listed = self.iam(account_id).list_saml_providers()["SAMLProviderList"]
        return {provider["Arn"].rsplit("/", 1)[1] for provider in listed}


@pytest.fixture(scope="module")
def served(good_metadata: str) -> Iterator[Served]:
    with mock_aws():
        extras = ProviderExtras()
        server = serve_in_thread(StrictStsApp(StrictSts(MotoIam(extras)), extras=extras))
        try:
            yield Served(server, extras, good_metadata)
        finally:
            server.stop()


def _refusal(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = raised.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


@pytest.mark.parametrize("case", list(BAD_METADATA), ids=list(BAD_METADATA))
def test_create_refuses_metadata_iam_cannot_parse(served: Served, case: str) -> None:
    build, code, message = BAD_METADATA[case]
    name = f"BadMetadata-{case}"
    with pytest.raises(ClientError) as raised:
        served.create(name, SAMLMetadataDocument=build(served.metadata))
    assert _refusal(raised) == (400, code, message)
    assert name not in served.names()
    assert f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}" not in served.extras


@pytest.mark.parametrize("case", list(BAD_METADATA), ids=list(BAD_METADATA))
def test_update_refuses_metadata_iam_cannot_parse(served: Served, case: str) -> None:
    build, code, message = BAD_METADATA[case]
    arn = served.create(f"UpdatedBadly-{case}")
    with pytest.raises(ClientError) as raised:
        served.iam().update_saml_provider(
            SAMLProviderArn=arn, SAMLMetadataDocument=build(served.metadata)
        )
    assert _refusal(raised) == (400, code, message)
    shown = served.iam().get_saml_provider(SAMLProviderArn=arn)
    assert shown["SAMLMetadataDocument"] == served.metadata


def test_create_refuses_more_than_10_signing_keys(served: Served) -> None:
    with pytest.raises(ClientError) as raised:
        served.create("ElevenKeys", SAMLMetadataDocument=with_keys(served.metadata, 11))
    status, code, message = _refusal(raised)
    assert (status, code) == (409, "LimitExceeded")
    assert "11 signing certificates" in message and "at most 10" in message
    assert "ElevenKeys" not in served.names()
    served.create("TenKeys", SAMLMetadataDocument=with_keys(served.metadata, 10))


def test_update_refuses_more_than_10_signing_keys(served: Served) -> None:
    arn = served.create("UpdatedToElevenKeys")
    with pytest.raises(ClientError) as raised:
        served.iam().update_saml_provider(
            SAMLProviderArn=arn, SAMLMetadataDocument=with_keys(served.metadata, 11)
        )
    assert _refusal(raised)[:2] == (409, "LimitExceeded")
    shown = served.iam().get_saml_provider(SAMLProviderArn=arn)
    assert shown["SAMLMetadataDocument"] == served.metadata


def test_create_refuses_a_name_already_taken(served: Served) -> None:
    arn = served.create("Taken", Tags=[{"Key": "first", "Value": "yes"}])
    uuid = served.iam().get_saml_provider(SAMLProviderArn=arn)["SAMLProviderUUID"]
    with pytest.raises(ClientError) as raised:
        served.create("Taken", SAMLMetadataDocument=with_keys(served.metadata, 2))
    status, code, message = _refusal(raised)
    assert (status, code) == (409, "EntityAlreadyExists")
    assert "Taken" in message
    shown = served.iam().get_saml_provider(SAMLProviderArn=arn)
    assert shown["SAMLMetadataDocument"] == served.metadata  # moto would have overwritten it
    assert shown["SAMLProviderUUID"] == uuid
    assert shown["Tags"] == [{"Key": "first", "Value": "yes"}]
    assert served.create("Taken", account_id="222222222222").endswith(
        ":222222222222:saml-provider/Taken"
    )


def test_a_taken_name_in_moto_default_account(served: Served) -> None:
    """No account header: the check looks where moto creates, its default account."""
    iam = served.iam(account_id=None)
    arn = iam.create_saml_provider(Name="Unpinned", SAMLMetadataDocument=served.metadata)
    assert arn["SAMLProviderArn"] == f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:saml-provider/Unpinned"
    with pytest.raises(ClientError) as raised:
        iam.create_saml_provider(Name="Unpinned", SAMLMetadataDocument=served.metadata)
    assert _refusal(raised)[:2] == (409, "EntityAlreadyExists")


def _tags(count: int, prefix: str = "k") -> list[dict[str, str]]:
    return [{"Key": f"{prefix}{i}", "Value": "v"} for i in range(count)]


def test_create_refuses_more_than_50_tags(served: Served) -> None:
    with pytest.raises(ClientError) as raised:
        served.create("Tags51", Tags=_tags(51))
    status, code, message = _refusal(raised)
    assert (status, code) == (409, "LimitExceeded")
    assert "51 tags" in message
    assert "Tags51" not in served.names()
    arn = served.create("Tags50", Tags=_tags(50))
    assert len(served.iam().list_saml_provider_tags(SAMLProviderArn=arn)["Tags"]) == 50


def test_tagging_refuses_more_than_50_tags(served: Served) -> None:
    arn = served.create("Tagged49", Tags=_tags(49))
    iam = served.iam()
    with pytest.raises(ClientError) as raised:
        iam.tag_saml_provider(SAMLProviderArn=arn, Tags=_tags(2, prefix="new"))
    status, code, message = _refusal(raised)
    assert (status, code) == (409, "LimitExceeded")
    assert "51 tags" in message
    assert len(iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"]) == 49
    with pytest.raises(ClientError) as raised:
        iam.tag_saml_provider(SAMLProviderArn=arn, Tags=_tags(51))
    assert _refusal(raised)[:2] == (409, "LimitExceeded")
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[*_tags(3), *_tags(1, prefix="new")])
    assert len(iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"]) == 50


def test_an_account_holds_at_most_100_providers(served: Served) -> None:
    account = "333333333333"
    for index in range(100):
        served.create(f"P{index:03d}", account_id=account)
    with pytest.raises(ClientError) as raised:
        served.create("P100", account_id=account)
    status, code, message = _refusal(raised)
    assert (status, code) == (409, "LimitExceeded")
    assert "at most 100" in message
    assert len(served.names(account)) == 100
    served.create("P100", account_id="444444444444")  # the quota is per account
    served.iam(account).delete_saml_provider(
        SAMLProviderArn=f"arn:aws:iam::{account}:saml-provider/P000"
    )
    served.create("P100", account_id=account)


# --- SAMLProviderUUID ---------------------------------------------------------------------------


def test_get_returns_a_unique_stable_uuid(served: Served) -> None:
    first, second = served.create("WithUuid1"), served.create("WithUuid2")
    iam = served.iam()
    uuid = iam.get_saml_provider(SAMLProviderArn=first)["SAMLProviderUUID"]
    assert re.fullmatch(PROVIDER_UUID_PATTERN, uuid)
    assert iam.get_saml_provider(SAMLProviderArn=second)["SAMLProviderUUID"] != uuid
    iam.update_saml_provider(SAMLProviderArn=first, SAMLMetadataDocument=served.metadata)
    iam.tag_saml_provider(SAMLProviderArn=first, Tags=[{"Key": "env", "Value": "test"}])
    assert iam.get_saml_provider(SAMLProviderArn=first)["SAMLProviderUUID"] == uuid
    record = MotoIam(served.extras).saml_provider(first)
    assert record is not None and record.uuid == uuid  # what the STS rules read


def test_a_recreated_provider_gets_a_new_uuid(served: Served) -> None:
    arn = served.create("Recreated")
    iam = served.iam()
    before = iam.get_saml_provider(SAMLProviderArn=arn)["SAMLProviderUUID"]
    iam.delete_saml_provider(SAMLProviderArn=arn)
    served.create("Recreated")
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLProviderUUID"] != before


def test_a_provider_created_behind_the_server_gets_a_stable_uuid(served: Served) -> None:
    """Created straight in moto (not through the server): the view gives it an id once."""
    arn = moto_iam_client(ACCOUNT).create_saml_provider(
        Name="BehindTheServer", SAMLMetadataDocument=served.metadata
    )["SAMLProviderArn"]
    record = MotoIam(served.extras).saml_provider(arn)
    assert record is not None and record.uuid is not None
    assert re.fullmatch(PROVIDER_UUID_PATTERN, record.uuid)
    assert served.iam().get_saml_provider(SAMLProviderArn=arn)["SAMLProviderUUID"] == record.uuid


def test_live_iam_reads_the_uuid_the_server_returns(served: Served) -> None:
    arn = served.create("ReadLive", account_id=MOTO_DEFAULT_ACCOUNT)
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    record = LiveIam(session, endpoint_url=served.server.url).saml_provider(arn)
    assert record is not None
    assert (
        record.uuid
        == served.iam(MOTO_DEFAULT_ACCOUNT).get_saml_provider(SAMLProviderArn=arn)[
            "SAMLProviderUUID"
        ]
    )


def _with_uuid_header(client: Any, uuid: str) -> Any:
    def add(request: Any, **_: object) -> None:
        request.headers[PROVIDER_UUID_HEADER] = uuid

    client.meta.events.register("request-created.iam.CreateSAMLProvider", add)
    return client


@pytest.mark.parametrize(
    "uuid",
    ["samlsp4shn3uis2d558h46", "SHORT", "SAMLSP4S-HN3UIS2D558H46", "A" * 65],
    ids=["lowercase", "too-short", "hyphen", "too-long"],
)
def test_server_refuses_a_malformed_uuid_header(served: Served, uuid: str) -> None:
    iam = _with_uuid_header(served.iam(), uuid)
    with pytest.raises(ClientError) as raised:
        iam.create_saml_provider(Name="BadUuid", SAMLMetadataDocument=served.metadata)
    status, code, message = _refusal(raised)
    assert (status, code) == (400, "InvalidInput")
    assert PROVIDER_UUID_HEADER in message
    assert "BadUuid" not in served.names()


def test_server_refuses_a_uuid_header_already_used(served: Served) -> None:
    uuid = new_provider_uuid()
    iam = _with_uuid_header(served.iam(), uuid)
    arn = iam.create_saml_provider(Name="UuidFirst", SAMLMetadataDocument=served.metadata)
    assert iam.get_saml_provider(SAMLProviderArn=arn["SAMLProviderArn"])["SAMLProviderUUID"] == uuid
    with pytest.raises(ClientError) as raised:
        iam.create_saml_provider(Name="UuidSecond", SAMLMetadataDocument=served.metadata)
    status, code, message = _refusal(raised)
    assert (status, code) == (400, "InvalidInput")
    assert "UuidFirst" in message
    assert "UuidSecond" not in served.names()
    with pytest.raises(ClientError) as raised:  # provisioning twice: the name is what is taken
        iam.create_saml_provider(Name="UuidFirst", SAMLMetadataDocument=served.metadata)
    assert _refusal(raised)[:2] == (409, "EntityAlreadyExists")


UUID_WORLD = f"""\
accounts:
  "555555555555":
    saml_providers:
      Fixed: {{metadata: from-idp, uuid: {FIXED_UUID}}}
      Random: {{metadata: from-idp}}
"""


def uuid_world(tmp_path: Path, text: str = UUID_WORLD) -> AwsWorld:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    return validate(AwsWorld, load_yaml(path))


def test_provisioning_through_the_server_keeps_the_scenario_uuid(
    served: Served, tmp_path: Path
) -> None:
    """As ServerExchanger does: provision() through the server with its own extras table."""
    own = ProviderExtras()
    provisioned = provision(
        uuid_world(tmp_path),
        iam_client_factory=served.iam,
        idp_metadata=served.metadata.encode(),
        base_dir=tmp_path,
        extras=own,
        scenario_name="uuid-tests",
    )
    fixed, random_ = provisioned.saml_providers
    iam = served.iam("555555555555")
    assert iam.get_saml_provider(SAMLProviderArn=fixed)["SAMLProviderUUID"] == FIXED_UUID
    assert served.extras.get(fixed).uuid == own.get(fixed).uuid == FIXED_UUID
    shown = iam.get_saml_provider(SAMLProviderArn=random_)["SAMLProviderUUID"]
    assert served.extras.get(random_).uuid == own.get(random_).uuid == shown != FIXED_UUID


def test_a_removed_private_key_forgets_when_it_was_added() -> None:
    from sp_fixtures.aws.iam_view import ProviderExtras
    from sp_fixtures.aws.saml_provider_calls import SamlProviderCalls, private_key_id

    calls = SamlProviderCalls(None, ProviderExtras(), None)  # type: ignore[arg-type]
    arn = "arn:aws:iam::111111111111:saml-provider/P"
    first, second = ((CERTS / name).read_bytes() for name in ("sample-sp.key", "sample-idp.key"))
    calls._note_keys(arn, [first, second])
    calls._note_keys(arn, [second])  # after RemovePrivateKey of the first
    assert [key_id for (_, key_id) in calls._key_added] == [private_key_id(second)]
