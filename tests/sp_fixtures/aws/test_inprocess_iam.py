"""In-process strict STS: boto3's IAM calls meet IAM's checks, as through ``sts serve``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from idp.provider import IdentityProvider
from sp_fixtures.aws.iam_view import MotoIam, ProviderExtras
from sp_fixtures.aws.inprocess import strict_sts
from sp_fixtures.aws.sts import StrictSts
from tests.conftest import CERTS
from tests.sp_fixtures.aws.sts_cases import WORLD
from tests.sp_fixtures.aws.test_saml_provider_calls import BAD_METADATA

MOTO_ACCOUNT = "123456789012"
TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
    '"sts:AssumeRoleWithSAML", "Principal": {"Federated": '
    f'"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP"}}}}]}}'
)


@pytest.fixture(scope="module")
def metadata() -> str:
    return IdentityProvider.from_file(WORLD).metadata().decode()


@pytest.fixture
def iam() -> Iterator[tuple[Any, ProviderExtras]]:
    """An IAM client inside mock_aws and strict_sts, with the extras the strict STS reads."""
    with mock_aws():
        extras = ProviderExtras()
        with strict_sts(StrictSts(MotoIam(extras))):
            yield boto3.client("iam", region_name="us-east-1"), extras


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.mark.parametrize("case", list(BAD_METADATA), ids=list(BAD_METADATA))
def test_metadata_iam_cannot_parse_is_refused(
    iam: tuple[Any, ProviderExtras], metadata: str, case: str
) -> None:
    client, _ = iam
    build, code, message = BAD_METADATA[case]
    with pytest.raises(ClientError) as raised:
        client.create_saml_provider(Name="Bad", SAMLMetadataDocument=build(metadata))
    assert _error(raised) == (code, message)
    assert client.list_saml_providers()["SAMLProviderList"] == []


def test_a_taken_name_is_refused_not_overwritten(
    iam: tuple[Any, ProviderExtras], metadata: str
) -> None:
    client, _ = iam
    client.create_saml_provider(Name="CorpIdP", SAMLMetadataDocument=metadata)
    with pytest.raises(ClientError) as raised:
        client.create_saml_provider(Name="CorpIdP", SAMLMetadataDocument=metadata)
    assert _error(raised)[0] == "EntityAlreadyExists"


def test_a_provider_keeps_what_moto_drops(iam: tuple[Any, ProviderExtras], metadata: str) -> None:
    client, extras = iam
    key_pem = (CERTS / "sample-sp.key").read_text()
    arn = client.create_saml_provider(
        Name="CorpIdP",
        SAMLMetadataDocument=metadata,
        AssertionEncryptionMode="Required",
        AddPrivateKey=key_pem,
        Tags=[{"Key": "team", "Value": "identity"}],
    )["SAMLProviderArn"]
    provider = client.get_saml_provider(SAMLProviderArn=arn)
    assert provider["AssertionEncryptionMode"] == "Required"
    assert len(provider["PrivateKeyList"]) == 1
    assert provider["SAMLProviderUUID"]
    assert provider["Tags"] == [{"Key": "team", "Value": "identity"}]
    assert extras.get(arn).encryption_mode == "Required"  # what the strict exchange reads


def test_a_trust_policy_iam_refuses_is_refused(iam: tuple[Any, ProviderExtras]) -> None:
    client, _ = iam
    with pytest.raises(ClientError) as raised:
        client.create_role(RoleName="Admin", AssumeRolePolicyDocument='{"Statement": [')
    assert _error(raised)[0] == "MalformedPolicyDocument"
    client.create_role(RoleName="Admin", AssumeRolePolicyDocument=TRUST)
    assert client.get_role(RoleName="Admin")["Role"]["RoleName"] == "Admin"


def test_other_iam_calls_reach_moto(iam: tuple[Any, ProviderExtras]) -> None:
    client, _ = iam
    client.create_user(UserName="carol")
    assert [user["UserName"] for user in client.list_users()["Users"]] == ["carol"]


def test_outside_the_block_iam_is_moto_alone(metadata: str) -> None:
    # The switch is scoped: after the block, moto stores what IAM would refuse.
    with mock_aws():
        with strict_sts(StrictSts(MotoIam(ProviderExtras()))):
            pass
        client = boto3.client("iam", region_name="us-east-1")
        build, _, _ = BAD_METADATA["not-xml"]
        client.create_saml_provider(Name="Unchecked", SAMLMetadataDocument=build(metadata))
        assert len(client.list_saml_providers()["SAMLProviderList"]) == 1
