"""Limits the strict STS enforces beyond the SAML rules, through boto3 against ``sts serve``
and the in-process hook: ``MinimumSessionTokenSize`` is 0–4096 (aws-sts-saml.md §1.1), and
credentials from AssumeRoleWithSAML cannot call GetFederationToken or GetSessionToken (§1.2)."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from lxml import etree

from sp_fixtures.aws.iam_view import pin_moto_account
from sp_fixtures.aws.inprocess import strict_sts
from sp_fixtures.aws.server import StrictStsApp
from tests.sp_fixtures.aws.served import ServedWorld, served_world

ACCOUNT = "111111111111"
TOO_LARGE = (
    "1 validation error detected: Value '{}' at 'minimumSessionTokenSize' failed to satisfy "
    "constraint: Member must have value less than or equal to 4096"
)
TOO_SMALL = (
    "1 validation error detected: Value '{}' at 'minimumSessionTokenSize' failed to satisfy "
    "constraint: Member must have value greater than or equal to 0"
)
NOT_INTEGER = (
    "1 validation error detected: Value '{}' at 'minimumSessionTokenSize' failed to satisfy "
    "constraint: Member must be an integer"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    """The rule-test world in moto, served by ``sts serve``'s app on a free 127.0.0.1 port."""
    with served_world(tmp_path_factory.mktemp("stranger"), "server-limits") as served:
        yield served


def _client(
    service: str,
    endpoint_url: str | None,
    credentials: dict[str, str] | None = None,
    *,
    validate_params: bool = True,
) -> Any:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(parameter_validation=validate_params),
        **keys,
    )


def _refusal(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: dict[str, Any] = raised.value.response
    return response


# --- MinimumSessionTokenSize ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (4097, TOO_LARGE.format(4097)),
        (5000, TOO_LARGE.format(5000)),
        (10**30, TOO_LARGE.format(10**30)),
        (-1, TOO_SMALL.format(-1)),
        ("abc", NOT_INTEGER.format("abc")),
        ("12.5", NOT_INTEGER.format("12.5")),
    ],
    ids=["4097", "5000", "10^30", "-1", "abc", "12.5"],
)
def test_server_refuses_minimum_session_token_size_out_of_range(
    world: ServedWorld, size: object, message: str
) -> None:
    # botocore checks only the minimum and the type client-side: turn that off to send -1/"abc".
    sts = _client("sts", world.server.url, validate_params=False)
    params = world.forge().request(MinimumSessionTokenSize=size)
    response = _refusal(lambda: sts.assume_role_with_saml(**params))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == message


def test_server_refuses_minimum_session_token_size_with_botocore_validation_on(
    world: ServedWorld,
) -> None:
    """The audit's exact call: botocore does not check the 4096 maximum, the server must."""
    sts = _client("sts", world.server.url)
    params = world.forge().request(MinimumSessionTokenSize=5000)
    response = _refusal(lambda: sts.assume_role_with_saml(**params))
    assert response["Error"] == {
        "Code": "ValidationError",
        "Message": TOO_LARGE.format(5000),
        "Type": "Sender",
    }


def test_server_lists_minimum_session_token_size_with_missing_parameters(
    world: ServedWorld,
) -> None:
    sts = _client("sts", world.server.url, validate_params=False)
    params = world.forge().request(MinimumSessionTokenSize=5000)
    del params["RoleArn"]
    response = _refusal(lambda: sts.assume_role_with_saml(**params))
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == (
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: "
        "Member must not be null; Value '5000' at 'minimumSessionTokenSize' failed to satisfy "
        "constraint: Member must have value less than or equal to 4096"
    )


@pytest.mark.parametrize("size", [0, 1, 4096])
def test_server_accepts_minimum_session_token_size_in_range(world: ServedWorld, size: int) -> None:
    sts = _client("sts", world.server.url)
    answer = sts.assume_role_with_saml(**world.forge().request(MinimumSessionTokenSize=size))
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@corp.example"
    )


@pytest.mark.parametrize(
    ("size", "message"),
    [(5000, TOO_LARGE.format(5000)), ("abc", NOT_INTEGER.format("abc"))],
    ids=["5000", "abc"],
)
def test_in_process_refuses_minimum_session_token_size_out_of_range(
    world: ServedWorld, size: object, message: str
) -> None:
    params = world.forge().request(MinimumSessionTokenSize=size)
    with strict_sts(world.sts):
        sts = _client("sts", None, validate_params=False)
        response = _refusal(lambda: sts.assume_role_with_saml(**params))
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == message


def test_in_process_accepts_minimum_session_token_size_in_range(world: ServedWorld) -> None:
    with strict_sts(world.sts):
        answer = _client("sts", None).assume_role_with_saml(
            **world.forge().request(MinimumSessionTokenSize=4096)
        )
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/alice@corp.example")


# --- SAML-session credentials cannot get session or federation tokens ----------------------

REFUSED_CALLS: dict[str, Callable[[Any], object]] = {
    "GetSessionToken": lambda sts: sts.get_session_token(),
    "GetFederationToken": lambda sts: sts.get_federation_token(Name="federated"),
}


def _saml_credentials(world: ServedWorld, endpoint_url: str | None) -> dict[str, str]:
    sts = _client("sts", endpoint_url)
    credentials: dict[str, str] = sts.assume_role_with_saml(**world.forge().request())[
        "Credentials"
    ]
    return credentials


@pytest.mark.parametrize("action", REFUSED_CALLS)
def test_server_refuses_saml_credentials(world: ServedWorld, action: str) -> None:
    credentials = _saml_credentials(world, world.server.url)
    sts = _client("sts", world.server.url, credentials)
    response = _refusal(lambda: REFUSED_CALLS[action](sts))
    assert credentials["AccessKeyId"] in world.app.saml_access_keys
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["ResponseMetadata"]["RequestId"] != "fedharness"  # the server, not the hook
    assert response["Error"] == {
        "Code": "AccessDenied",
        "Message": f"Cannot call {action} with session credentials",
        "Type": "Sender",
    }


def test_server_refuses_saml_credentials_in_a_presigned_url(world: ServedWorld) -> None:
    """Query-string signing carries the key in X-Amz-Credential, not an Authorization header."""
    credentials = _saml_credentials(world, world.server.url)
    url = _client("sts", world.server.url, credentials).generate_presigned_url(
        "get_session_token", Params={}, ExpiresIn=300
    )
    assert "X-Amz-Credential=" + credentials["AccessKeyId"] in url
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    try:
        connection.request("GET", f"{parts.path or '/'}?{parts.query}")
        reply = connection.getresponse()
        status, body = reply.status, reply.read()
    finally:
        connection.close()
    assert status == 403, body[:500]
    assert etree.fromstring(body).findtext(".//{*}Error/{*}Code") == "AccessDenied"


def test_server_lets_saml_credentials_make_other_calls(world: ServedWorld) -> None:
    credentials = _saml_credentials(world, world.server.url)
    caller = _client("sts", world.server.url, credentials).get_caller_identity()
    assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@corp.example"


def _iam_user_sts_client(endpoint_url: str | None, user_name: str) -> Any:
    """Return an STS client signing with a fresh IAM user's access key (not a session)."""
    iam = _client("iam", endpoint_url)
    pin_moto_account(iam, ACCOUNT)
    iam.create_user(UserName=user_name)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


def test_server_lets_ordinary_credentials_get_tokens(world: ServedWorld) -> None:
    """Keys that no SAML exchange issued still reach moto, even after SAML sessions exist."""
    _saml_credentials(world, world.server.url)
    assert world.app.saml_access_keys
    user = _iam_user_sts_client(world.server.url, "server-broker")
    assert user.get_session_token()["Credentials"]["SessionToken"]
    assert user.get_federation_token(Name="federated")["Credentials"]["SessionToken"]
    assert _client("sts", world.server.url).get_session_token()["Credentials"]["SessionToken"]


def test_server_apps_do_not_share_saml_keys(world: ServedWorld) -> None:
    _saml_credentials(world, world.server.url)
    assert world.app.saml_access_keys
    assert len(StrictStsApp(world.sts, fallback=world.app.fallback).saml_access_keys) == 0


@pytest.mark.parametrize("action", REFUSED_CALLS)
def test_in_process_refuses_saml_credentials(world: ServedWorld, action: str) -> None:
    with strict_sts(world.sts):
        credentials = _saml_credentials(world, None)
        inside = _refusal(lambda: REFUSED_CALLS[action](_client("sts", None, credentials)))
    # After the block too: the credentials stay SAML-session credentials.
    after = _refusal(lambda: REFUSED_CALLS[action](_client("sts", None, credentials)))
    for response in (inside, after):
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert response["Error"] == {
            "Code": "AccessDenied",
            "Message": f"Cannot call {action} with session credentials",
            "Type": "Sender",
        }


def test_in_process_lets_ordinary_credentials_get_tokens(world: ServedWorld) -> None:
    with strict_sts(world.sts):
        _saml_credentials(world, None)
        user = _iam_user_sts_client(None, "in-process-broker")
        assert user.get_session_token()["Credentials"]["SessionToken"]
        assert user.get_federation_token(Name="federated")["Credentials"]["SessionToken"]
        assert _client("sts", None).get_session_token()["Credentials"]["SessionToken"]
