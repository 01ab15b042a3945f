"""The IdP as a whole: directory + mapping + keys → responses that independent SPs accept."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import boto3
import pytest
from lxml import etree
from moto import mock_aws

from idp.directory import UnknownUserError
from idp.provider import IdentityProvider, RoleNotGrantedError
from idp.saml import compiled
from idp.saml.constants import AWS_SIGNIN_URL, NSMAP
from idp.saml.encryption import decrypt_assertion
from idp.saml.keys import KeyPair
from idp.saml.metadata import signing_certificates
from tests.conftest import CERTS, EXAMPLES
from tests.idp.saml.independent import (
    needs_xmlsec1,
    pysaml2_sp_accepts,
    xmlsec1_verify,
)

QUICKSTART = EXAMPLES / "quickstart.yaml"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
PROVIDER = "arn:aws:iam::111111111111:saml-provider/CorpIdP"


@pytest.fixture(scope="module")
def provider() -> IdentityProvider:
    return IdentityProvider.from_file(QUICKSTART)


def values(xml: bytes, name: str) -> list[str]:
    found = etree.fromstring(xml).xpath(
        f"//saml:Attribute[@Name='{name}']/saml:AttributeValue/text()", namespaces=NSMAP
    )
    return [str(v) for v in found]  # type: ignore[union-attr]


def write_config(tmp_path: Path, idp_extra: str = "", signing_extra: str = "") -> Path:
    config = tmp_path / "idp.yaml"
    config.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  signing:
    key: {CERTS / "sample-idp.key"}
    cert: {CERTS / "sample-idp.crt"}
{signing_extra}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: [{ADMIN}]}}
{idp_extra}
directory:
  users:
    alice: {{email: alice@corp.example, groups: [admins]}}
""")
    return config


def test_nested_groups_give_every_role(provider: IdentityProvider, now: dt.datetime) -> None:
    issued = provider.issue("alice", now=now)
    assert values(issued.xml, "https://aws.amazon.com/SAML/Attributes/Role") == [
        f"{ADMIN},{PROVIDER}",
        "arn:aws:iam::111111111111:role/ReadOnly,arn:aws:iam::111111111111:saml-provider/CorpIdP",
        "arn:aws:iam::222222222222:role/Developer,arn:aws:iam::222222222222:saml-provider/CorpIdP",
    ]
    assert values(issued.xml, "https://aws.amazon.com/SAML/Attributes/RoleSessionName") == [
        "alice@corp.example"
    ]
    assert values(issued.xml, "https://aws.amazon.com/SAML/Attributes/PrincipalTag:department") == [
        "platform"
    ]
    assert base64.b64decode(issued.saml_response) == issued.xml


def test_user_without_aws_groups_gets_no_role(provider: IdentityProvider) -> None:
    issued = provider.issue("carol")
    assert values(issued.xml, "https://aws.amazon.com/SAML/Attributes/Role") == []


def test_role_filter_keeps_one_pair(provider: IdentityProvider) -> None:
    issued = provider.issue("alice", role_arn=ADMIN)
    assert values(issued.xml, "https://aws.amazon.com/SAML/Attributes/Role") == [
        f"{ADMIN},{PROVIDER}"
    ]


def test_role_filter_refuses_a_role_not_granted(provider: IdentityProvider) -> None:
    with pytest.raises(RoleNotGrantedError, match="bob is not granted .*role/Admin"):
        provider.issue("bob", role_arn=ADMIN)


def test_unknown_user(provider: IdentityProvider) -> None:
    with pytest.raises(UnknownUserError, match="alicia"):
        provider.issue("alicia")


def test_recipient_override(provider: IdentityProvider) -> None:
    regional = "https://eu-west-1.signin.aws.amazon.com/saml"
    issued = provider.issue("alice", recipient=regional)
    root = etree.fromstring(issued.xml)
    assert root.get("Destination") == regional
    assert root.xpath("//saml:SubjectConfirmationData/@Recipient", namespaces=NSMAP) == [regional]


def test_overrides_reach_the_xml(provider: IdentityProvider, now: dt.datetime) -> None:
    issued = provider.issue(
        "alice",
        now=now,
        assertion_overrides={"issuer": "https://evil.example/", "audiences": ("urn:evil",)},
        response_overrides={"destination": None},
    )
    root = etree.fromstring(issued.xml)
    assert root.xpath("saml:Assertion/saml:Issuer/text()", namespaces=NSMAP) == [
        "https://evil.example/"
    ]
    assert root.xpath("//saml:Audience/text()", namespaces=NSMAP) == ["urn:evil"]
    assert root.get("Destination") is None


def test_metadata_lists_both_rollover_keys(
    provider: IdentityProvider, idp_key: KeyPair, idp_next_key: KeyPair
) -> None:
    metadata = etree.fromstring(provider.metadata())
    assert metadata.get("entityID") == "https://idp.corp.example/saml"
    assert signing_certificates(metadata) == (idp_key.cert_base64, idp_next_key.cert_base64)
    sso = metadata.xpath("//md:SingleSignOnService/@Binding", namespaces=NSMAP)
    assert sso == [
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    ]
    assert len(metadata.xpath("//md:SingleLogoutService", namespaces=NSMAP)) == 2
    assert len(metadata.xpath("//md:NameIDFormat", namespaces=NSMAP)) >= 4


@needs_xmlsec1
def test_sign_with_next_key(tmp_path: Path, idp_key: KeyPair, idp_next_key: KeyPair) -> None:
    config = write_config(
        tmp_path,
        signing_extra=f"""\
    next_key: {{key: {CERTS / "sample-idp-next.key"}, cert: {CERTS / "sample-idp-next.crt"}}}
    sign_with: next""",
    )
    issued = IdentityProvider.from_file(config).issue("alice")
    assert xmlsec1_verify(issued.xml, idp_next_key.cert_pem, node="Assertion").returncode == 0
    assert xmlsec1_verify(issued.xml, idp_key.cert_pem, node="Assertion").returncode != 0


@needs_xmlsec1
@pytest.mark.parametrize(
    ("sign", "nodes"),
    [
        ("assertion", ["Assertion"]),
        ("response", ["Response"]),
        ("both", ["Assertion", "Response"]),
    ],
)
def test_sign_setting(tmp_path: Path, idp_key: KeyPair, sign: str, nodes: list[str]) -> None:
    config = write_config(tmp_path, signing_extra=f"    sign: {sign}")
    issued = IdentityProvider.from_file(config).issue("alice")
    signed = etree.fromstring(issued.xml).xpath("//ds:Signature/..", namespaces=NSMAP)
    assert sorted(etree.QName(e).localname for e in signed) == sorted(nodes)
    for node in nodes:
        assert xmlsec1_verify(issued.xml, idp_key.cert_pem, node=node).returncode == 0


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"])
def test_encrypted_assertion_for_an_sp(tmp_path: Path, sp_key: KeyPair, algorithm: str) -> None:
    config = write_config(
        tmp_path,
        idp_extra=f"""\
  service_providers:
    aws:
      acs: https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSP4SHN3UIS2D558H46
      encrypt: {{cert: {CERTS / "sample-sp.crt"}, algorithm: {algorithm}}}""",
    )
    issued = IdentityProvider.from_file(config).issue("alice")
    root = etree.fromstring(issued.xml)
    assert root.xpath("saml:Assertion", namespaces=NSMAP) == []
    (encrypted,) = root.xpath("saml:EncryptedAssertion", namespaces=NSMAP)
    assert b"alice@corp.example" not in issued.xml
    methods = encrypted.xpath(".//xenc:EncryptionMethod/@Algorithm", namespaces=NSMAP)
    assert any(algorithm.replace("-", "") in str(m).replace("-", "") for m in methods)
    assertion = decrypt_assertion(encrypted, [sp_key.key_pem])
    assert assertion.xpath("saml:Subject/saml:NameID/text()", namespaces=NSMAP) == ["alice"]


@needs_xmlsec1
@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_pysaml2_sp_accepts_the_response(tmp_path: Path, sign: str) -> None:
    config = write_config(tmp_path, signing_extra=f"    sign: {sign}")
    provider = IdentityProvider.from_file(config)
    # The first two responses of a shape are built as trees, later ones from compiled templates.
    for _ in range(3):
        issued = provider.issue("alice")
        identity = pysaml2_sp_accepts(
            issued.saml_response, provider.metadata(), entity_id=AWS_SIGNIN_URL, acs=AWS_SIGNIN_URL
        )
        assert identity["https://aws.amazon.com/SAML/Attributes/Role"] == [f"{ADMIN},{PROVIDER}"]
    assert compiled.compiled_shapes() >= 1


@needs_xmlsec1
def test_pysaml2_sp_refuses_a_foreign_audience(tmp_path: Path) -> None:
    provider = IdentityProvider.from_file(write_config(tmp_path))
    issued = provider.issue("alice")
    with pytest.raises(Exception, match="(?i)audience|not for me|restriction"):
        pysaml2_sp_accepts(
            issued.saml_response,
            provider.metadata(),
            entity_id="https://other-sp.example/",
            acs=AWS_SIGNIN_URL,
        )


@needs_xmlsec1
def test_pysaml2_sp_refuses_an_expired_response(tmp_path: Path) -> None:
    provider = IdentityProvider.from_file(write_config(tmp_path))
    issued = provider.issue("alice", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    with pytest.raises(Exception, match="(?i)expired|too old|not on or after|timeout"):
        pysaml2_sp_accepts(
            issued.saml_response, provider.metadata(), entity_id=AWS_SIGNIN_URL, acs=AWS_SIGNIN_URL
        )


@mock_aws
def test_moto_accepts_the_metadata_and_exchanges_the_assertion(provider: IdentityProvider) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    created = iam.create_saml_provider(
        Name="CorpIdP", SAMLMetadataDocument=provider.metadata().decode()
    )
    stored = iam.get_saml_provider(SAMLProviderArn=created["SAMLProviderArn"])
    assert "https://idp.corp.example/saml" in stored["SAMLMetadataDocument"]
    iam.create_role(RoleName="Admin", AssumeRolePolicyDocument="{}")
    role_arn = iam.get_role(RoleName="Admin")["Role"]["Arn"]
    issued = provider.issue("alice", role_arn=ADMIN)
    sts = boto3.client("sts", region_name="us-east-1")
    answer = sts.assume_role_with_saml(
        RoleArn=role_arn,
        PrincipalArn=created["SAMLProviderArn"],
        SAMLAssertion=issued.saml_response,
    )
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/alice@corp.example")


def _name_id(xml: bytes) -> tuple[str, str]:
    (name_id,) = etree.fromstring(xml).xpath("//saml:NameID", namespaces=NSMAP)
    return str(name_id.text), str(name_id.get("Format"))


def test_transient_name_id_is_new_for_every_assertion(tmp_path: Path, now: dt.datetime) -> None:
    provider = IdentityProvider.from_file(
        write_config(tmp_path, idp_extra="  name_id: {format: transient}")
    )
    first, second = (_name_id(provider.issue("alice", now=now).xml) for _ in range(2))
    assert first[1] == second[1] == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert first[0] != second[0]
    assert "alice" not in first[0] + second[0]


def test_persistent_name_id_stays_the_users(tmp_path: Path, now: dt.datetime) -> None:
    provider = IdentityProvider.from_file(write_config(tmp_path))
    first, second = (_name_id(provider.issue("alice", now=now).xml) for _ in range(2))
    assert first == second
