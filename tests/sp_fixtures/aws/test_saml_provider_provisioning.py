"""SAML providers provisioned in-process and the scenario schema: the metadata checks IAM makes
on CreateSAMLProvider (signing certificates: RSA of at least 1024 bits, at most 10;
aws-sts-saml.md §2.1, §4) refuse before moto stores anything, every provider gets a
SAMLProviderUUID (a scenario may fix it, in AWS's form), and moto's account of a server request
is read as moto reads it. The same through ``sts serve``: test_saml_provider_calls.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from moto import mock_aws

from idp.provider import IdentityProvider
from idp.yamlfile import ConfigError
from scenarios.loader import load_scenario
from sp_fixtures.aws.account import (
    PROVIDER_UUID_PATTERN,
    AwsWorld,
    MetadataCertificateError,
    TooManyMetadataKeysError,
)
from sp_fixtures.aws.iam_view import moto_iam_client, moto_iam_client_factory, moto_request_account
from sp_fixtures.aws.provision import provision
from tests.conftest import CERTS
from tests.sp_fixtures.aws.sts_cases import WORLD
from tests.sp_fixtures.aws.test_saml_provider_calls import (
    ACCOUNT,
    FIXED_UUID,
    MOTO_DEFAULT_ACCOUNT,
    WEAK_CERT,
    ec_cert,
    uuid_world,
    with_certs,
    with_keys,
)


@pytest.fixture(scope="module")
def good_metadata() -> str:
    return IdentityProvider.from_file(WORLD).metadata().decode()


# --- in-process ---------------------------------------------------------------------------------


def test_in_process_provisioning_gives_every_provider_a_uuid(
    good_metadata: str, tmp_path: Path
) -> None:
    with mock_aws():
        provisioned = provision(
            uuid_world(tmp_path),
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=good_metadata.encode(),
            base_dir=tmp_path,
        )
        view = provisioned.iam()
        fixed, random_ = (view.saml_provider(arn) for arn in provisioned.saml_providers)
    assert fixed is not None and random_ is not None
    assert fixed.uuid == FIXED_UUID
    assert random_.uuid is not None and re.fullmatch(PROVIDER_UUID_PATTERN, random_.uuid)
    assert random_.uuid != FIXED_UUID


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda good: with_certs(good, WEAK_CERT), MetadataCertificateError),
        (lambda good: with_certs(good, ec_cert()), MetadataCertificateError),
        (lambda good: with_keys(good, 11), TooManyMetadataKeysError),
    ],
    ids=["512-bit-rsa-cert", "ec-cert", "11-signing-keys"],
)
def test_in_process_provisioning_refuses_metadata_iam_refuses(
    good_metadata: str, tmp_path: Path, build: Callable[[str], str], error: type[Exception]
) -> None:
    (tmp_path / "metadata.xml").write_text(build(good_metadata))
    world = uuid_world(
        tmp_path, 'accounts: {"666666666666": {saml_providers: {Bad: {metadata: metadata.xml}}}}'
    )
    with mock_aws():
        with pytest.raises(error, match="metadata.xml"):
            provision(
                world,
                iam_client_factory=moto_iam_client_factory(),
                idp_metadata=good_metadata.encode(),
                base_dir=tmp_path,
            )
        assert not moto_iam_client("666666666666").list_saml_providers()["SAMLProviderList"]


@pytest.mark.parametrize(
    ("uuid", "message"),
    [
        ("samlsp4shn3uis2d558h46", "not a SAMLProviderUUID"),
        ("SAMLSP4SHN3UIS2D558H4", "not a SAMLProviderUUID"),
        ("SAMLSP4S-HN3UIS2D558H46", "not a SAMLProviderUUID"),
        ("A" * 65, "not a SAMLProviderUUID"),
    ],
    ids=["lowercase", "21-chars", "hyphen", "65-chars"],
)
def test_scenario_uuid_must_have_aws_form(tmp_path: Path, uuid: str, message: str) -> None:
    text = f'accounts: {{"555555555555": {{saml_providers: {{P: {{uuid: "{uuid}"}}}}}}}}'
    with pytest.raises(ConfigError, match=message) as raised:
        uuid_world(tmp_path, text)
    assert raised.value.line == 1
    assert "saml_providers.P.uuid" in str(raised.value)


def test_scenario_uuids_are_unique(tmp_path: Path) -> None:
    text = f"""\
accounts:
  "555555555555":
    saml_providers:
      First: {{uuid: {FIXED_UUID}}}
  "666666666666":
    saml_providers:
      Second: {{uuid: {FIXED_UUID}}}
"""
    with pytest.raises(ConfigError, match="already has uuid") as raised:
        uuid_world(tmp_path, text)
    assert raised.value.line == 7
    assert "666666666666.saml_providers.Second.uuid" in str(raised.value)


def test_schema_publishes_the_uuid_form() -> None:
    schema = AwsWorld.model_json_schema()
    uuid = schema["$defs"]["SamlProviderSpec"]["properties"]["uuid"]
    assert {"type": "string", "pattern": PROVIDER_UUID_PATTERN} in uuid["anyOf"]
    assert "acs" in uuid["description"]


# --- moto's account of a request ----------------------------------------------------------------


def test_request_account_follows_moto_order(monkeypatch: pytest.MonkeyPatch) -> None:
    signed = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/"
        "cn-north-1/iam/aws4_request, SignedHeaders=host, Signature=abc"
    }
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    assert moto_request_account({}) == (MOTO_DEFAULT_ACCOUNT, "aws")
    assert moto_request_account(signed) == (MOTO_DEFAULT_ACCOUNT, "aws-cn")
    assert moto_request_account({**signed, "HTTP_X_MOTO_ACCOUNT_ID": ACCOUNT}) == (
        ACCOUNT,
        "aws-cn",
    )
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    assert moto_request_account({"HTTP_X_MOTO_ACCOUNT_ID": ACCOUNT})[0] == "999999999999"


# --- the scenario loader ------------------------------------------------------------------------


def _scenario(tmp_path: Path, provider: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"""\
name: provider-uuid
idp:
  entity_id: https://idp.corp.example/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: [arn:aws:iam::111111111111:role/Admin]}}
directory:
  users:
    alice: {{email: alice@corp.example, groups: [admins]}}
aws:
  accounts:
    "111111111111":
      saml_providers:
        CorpIdP: {provider}
      roles:
        Admin: {{trusts: CorpIdP}}
""")
    return path


def test_scenario_file_fixes_the_uuid(tmp_path: Path) -> None:
    loaded = load_scenario(_scenario(tmp_path, f"{{uuid: {FIXED_UUID}}}"))
    assert loaded.scenario.aws.accounts["111111111111"].saml_providers["CorpIdP"].uuid == FIXED_UUID


def test_scenario_loader_reports_a_weak_metadata_certificate_at_its_line(
    good_metadata: str, tmp_path: Path
) -> None:
    (tmp_path / "weak.xml").write_text(with_certs(good_metadata, WEAK_CERT))
    with pytest.raises(ConfigError, match="512-bit RSA key") as raised:
        load_scenario(_scenario(tmp_path, "{metadata: weak.xml}"))
    assert raised.value.line == 16  # CorpIdP: {metadata: weak.xml}
    assert "saml_providers.CorpIdP.metadata" in str(raised.value)
