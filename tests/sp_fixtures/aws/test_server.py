"""``fedharness sts serve`` over real HTTP: garbage is refused in AWS's XML, never a 500; SAML
providers created through the server keep what moto drops; the command serves a scenario's world
to the AWS CLI and stops cleanly on Ctrl-C."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import logging
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from lxml import etree
from moto import mock_aws

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.saml.constants import AwsAttribute
from idp.yamlfile import load_yaml, validate
from scenarios.cli_common import is_loopback
from scenarios.cli_sts import sts
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.iam_view import MotoIam, ProviderExtras, pin_moto_account
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.server import (
    MAX_BODY,
    RunningServer,
    StrictStsApp,
    private_key_id,
    serve_in_thread,
)
from sp_fixtures.aws.sts import StrictSts
from tests.sp_fixtures.aws.sts_cases import A1, ACS, ADMIN, CORP, SECURE, WORLD, Forge, put

ROOT = Path(__file__).resolve().parents[3]
SP_KEY = ROOT / "certs" / "sample-sp.key"
ACCOUNT = "111111111111"
AWS_CLI = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
needs_aws_cli = pytest.mark.skipif(
    AWS_CLI is None, reason="the AWS CLI (pip awscli) is not installed"
)
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


@dataclass
class Served:
    server: RunningServer
    extras: ProviderExtras
    provider: IdentityProvider
    stranger: tuple[Path, Path]

    def forge(self) -> Forge:
        return Forge(self.provider, dt.datetime.now(dt.UTC), self.stranger)

    def iam(self, account_id: str = ACCOUNT) -> Any:
        client = boto3.client(
            "iam",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        pin_moto_account(client, account_id)
        return client

    def sts(self) -> Any:
        return boto3.client(
            "sts",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server, with the rule-test world provisioned through its own IAM endpoint."""
    stranger = write_pair(
        generate_self_signed("not in any metadata"), tmp_path_factory.mktemp("stranger"), "s"
    )
    provider = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        extras = ProviderExtras()
        server = serve_in_thread(StrictStsApp(StrictSts(MotoIam(extras)), extras=extras))
        served = Served(server, extras, provider, stranger)
        try:
            # provision() writes its own extras table: only the server's bookkeeping fills
            # the one the strict STS reads.
            provision(
                world,
                iam_client_factory=served.iam,
                idp_metadata=provider.metadata(),
                base_dir=WORLD.parent,
                extras=ProviderExtras(),
                scenario_name="server-tests",
            )
            yield served
        finally:
            server.stop()


# --- (i) garbage over raw HTTP ------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A request written byte by byte (http.client adds nothing)."""

    body: bytes = b""
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=lambda: dict(FORM))
    content_length: bool = True
    """Send Content-Length: len(body) unless the headers set one."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def code(self) -> str:
        root = etree.fromstring(self.body)
        assert etree.QName(root).localname == "ErrorResponse", self.body[:300]
        return str(root.findtext(".//{*}Error/{*}Code"))

    @property
    def message(self) -> str:
        return str(etree.fromstring(self.body).findtext(".//{*}Error/{*}Message"))


def send(url: str, raw: Raw) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    try:
        connection.putrequest(raw.method, raw.path, skip_host=False, skip_accept_encoding=True)
        headers = dict(raw.headers)
        if raw.content_length and not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(raw.body))
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders(raw.body or None)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def form(**params: str) -> bytes:
    return urlencode({"Action": "AssumeRoleWithSAML", "Version": "2011-06-15", **params}).encode()


def valid(f: Forge, **extra: str) -> dict[str, str]:
    """Parameters of a request that would succeed, plus ``extra``."""
    return {"RoleArn": ADMIN, "PrincipalArn": CORP, "SAMLAssertion": f.issue(), **extra}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def multipart(params: Mapping[str, str]) -> bytes:
    parts = [
        f'--b0undary\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in params.items()
    ]
    return ("".join(parts) + "--b0undary--\r\n").encode()


@dataclass(frozen=True)
class Garbage:
    id: str
    build: Callable[[Forge], Raw]
    status: int
    code: str
    message: str | None = None


STS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
SEEDED = random.Random(7)  # noqa: S311 - reproducible junk, not a secret
JSON_BODY = json.dumps({"Action": "AssumeRoleWithSAML", "RoleArn": ADMIN}).encode()
GARBAGE = [
    Garbage(
        "json-body-with-action-in-query",
        lambda f: Raw(
            JSON_BODY,
            path="/?Action=AssumeRoleWithSAML",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "json-protocol-x-amz-target",
        lambda f: Raw(
            b"{}",
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRoleWithSAML",
            },
        ),
        400,
        "InvalidQueryParameter",
        "the body is application/x-amz-json-1.0",
    ),
    Garbage(
        "form-sent-as-octet-stream",  # STS takes form bodies only
        lambda f: Raw(form(**valid(f)), headers={"Content-Type": "application/octet-stream"}),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "form-sent-as-octet-stream-signed-for-sts",  # moto: HTTP 500 (SAMLAssertion None)
        lambda f: Raw(
            form(**valid(f)),
            headers={"Content-Type": "application/octet-stream", "Authorization": STS_AUTH},
        ),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "action-only-in-headers-signed-for-sts",  # moto: HTTP 500
        lambda f: Raw(headers={"Action": "AssumeRoleWithSAML", "Authorization": STS_AUTH}),
        400,
        "MissingAction",
    ),
    Garbage(
        "form-sent-as-multipart",
        lambda f: Raw(
            multipart({"Action": "AssumeRoleWithSAML", **valid(f)}),
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
        ),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "bad-percent-escape",
        lambda f: Raw(form(**valid(f)) + b"&Policy=%zz"),
        400,
        "InvalidQueryParameter",
        "bad %-escape",
    ),
    Garbage(
        "truncated-percent-escape",
        lambda f: Raw(form(RoleArn=ADMIN, PrincipalArn=CORP) + b"&SAMLAssertion=abc%"),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "percent-encoded-bytes-not-utf8",
        lambda f: Raw(form(PrincipalArn=CORP, SAMLAssertion="abcd") + b"&RoleArn=%ff%fe"),
        400,
        "InvalidQueryParameter",
        "not UTF-8",
    ),
    Garbage(
        "content-length-over-1mb-refused-unread",  # the body is never sent
        lambda f: Raw(headers={**FORM, "Content-Length": str(MAX_BODY + 1)}),
        400,
        "ValidationError",
        "too large",
    ),
    Garbage(
        "content-length-not-a-number",
        lambda f: Raw(headers={**FORM, "Content-Length": "lots"}),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "no-content-length-no-body",
        lambda f: Raw(path="/?Action=AssumeRoleWithSAML", content_length=False),
        400,
        "ValidationError",
        "3 validation errors detected: Value null at 'roleArn'",
    ),
    Garbage(
        "no-content-length-chunked-body-is-read",
        lambda f: Raw(
            chunked(form(**valid(f, SAMLAssertion=b64(b"<not-saml/>")))),
            headers={**FORM, "Transfer-Encoding": "chunked"},
            content_length=False,
        ),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "action-twice",
        lambda f: Raw(b"Action=AssumeRoleWithSAML&" + form(**valid(f))),
        400,
        "InvalidQueryParameter",
        "Action is given more than once",
    ),
    Garbage(
        "action-twice-smuggling-another-action-first",
        lambda f: Raw(b"Action=GetCallerIdentity&" + form(**valid(f))),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "action-in-query-and-body",
        lambda f: Raw(form(**valid(f)), path="/?Action=AssumeRoleWithSAML"),
        400,
        "InvalidQueryParameter",
    ),
    Garbage(
        "parameter-twice",
        lambda f: Raw(form(**valid(f)) + b"&RoleArn=" + f"{A1}:role/Long".encode()),
        400,
        "InvalidQueryParameter",
        "RoleArn is given more than once",
    ),
    Garbage(
        "action-in-wrong-case",
        lambda f: Raw(urlencode({"Action": "assumerolewithsaml", **valid(f)}).encode()),
        400,
        "InvalidAction",
        "Could not find operation assumerolewithsaml",
    ),
    Garbage(
        "action-only-in-a-header",  # moto reads headers as parameters when there are none
        lambda f: Raw(headers={"Action": "AssumeRoleWithSAML"}),
        400,
        "MissingAction",
    ),
    Garbage(
        "authorization-without-credential",
        lambda f: Raw(form(**valid(f)), headers={**FORM, "Authorization": "garbage"}),
        400,
        "IncompleteSignature",
    ),
    Garbage(
        "get-with-garbage-assertion",
        lambda f: Raw(
            method="GET",
            path="/?" + form(RoleArn=ADMIN, PrincipalArn=CORP, SAMLAssertion="%%%%").decode(),
            headers={},
        ),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "empty-parameters",
        lambda f: Raw(form(RoleArn="", PrincipalArn="", SAMLAssertion="")),
        400,
        "ValidationError",
        "at 'SAMLAssertion'",
    ),
    Garbage(
        "missing-one-parameter",
        lambda f: Raw(form(RoleArn=ADMIN, SAMLAssertion=f.issue())),
        400,
        "ValidationError",
        "1 validation error detected: Value null at 'principalArn' failed to satisfy "
        "constraint: Member must not be null",
    ),
    Garbage(
        "duration-not-an-integer",
        lambda f: Raw(form(**valid(f, DurationSeconds="abc"))),
        400,
        "ValidationError",
        "1 validation error detected: Value 'abc' at 'durationSeconds' failed to satisfy "
        "constraint: Member must be an integer",
    ),
    Garbage(
        "duration-a-float",
        lambda f: Raw(form(**valid(f, DurationSeconds="3600.0"))),
        400,
        "ValidationError",
        "Member must be an integer",
    ),
    Garbage(
        "duration-5000-digits",  # beyond int()'s default digit limit
        lambda f: Raw(form(**valid(f, DurationSeconds="9" * 5000))),
        400,
        "ValidationError",
        "less than or equal to 43200",
    ),
    Garbage(
        "unknown-parameter-named-like-a-keyword",
        lambda f: Raw(form(**valid(f, now="yesterday", SAMLAssertion="not base64!"))),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "assertion-100001-chars",
        lambda f: Raw(form(**valid(f, SAMLAssertion="A" * 100_001))),
        400,
        "ValidationError",
        "less than or equal to 100000",
    ),
    Garbage(
        "assertion-not-base64",
        lambda f: Raw(form(**valid(f, SAMLAssertion="!!!! not base64 !!!!"))),
        400,
        "InvalidIdentityToken",
        "Invalid base64",
    ),
    Garbage(
        "assertion-billion-laughs",
        lambda f: Raw(form(**valid(f, SAMLAssertion=b64(BILLION_LAUGHS)))),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "assertion-doctype-xxe",
        lambda f: Raw(
            form(
                **valid(
                    f,
                    SAMLAssertion=b64(
                        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                        b"<r>&x;</r>"
                    ),
                )
            )
        ),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "assertion-random-bytes",
        lambda f: Raw(form(**valid(f, SAMLAssertion=b64(SEEDED.randbytes(4096))))),
        400,
        "InvalidIdentityToken",
    ),
    Garbage(
        "account-path-does-not-bypass",
        lambda f: Raw(form(**valid(f, SAMLAssertion="!!!!")), path="/_account/111111111111"),
        400,
        "InvalidIdentityToken",
    ),
]


@pytest.mark.parametrize("case", GARBAGE, ids=lambda c: c.id)
def test_garbage_gets_an_aws_error_response(
    served: Served, case: Garbage, caplog: pytest.LogCaptureFixture
) -> None:
    reply = send(served.server.url, case.build(served.forge()))
    assert reply.status == case.status, reply.body[:500]
    assert reply.headers["Content-Type"] == "text/xml"
    assert reply.code == case.code, reply.message
    if case.message is not None:
        assert case.message in reply.message
    assert b"Traceback" not in reply.body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_get_with_a_valid_assertion_gets_credentials(served: Served) -> None:
    query = form(**valid(served.forge())).decode()
    reply = send(served.server.url, Raw(method="GET", path=f"/?{query}", headers={}))
    assert reply.status == 200, reply.body[:500]
    root = etree.fromstring(reply.body)
    assert str(root.findtext(".//{*}AccessKeyId")).startswith("ASIA")
    assert root.findtext(".//{*}Subject") == "alice"


def test_other_actions_still_reach_moto(served: Served) -> None:
    caller = served.sts().get_caller_identity()
    assert caller["Account"] == "123456789012"
    roles = served.iam().list_roles()["Roles"]
    assert f"{A1}:role/Admin" in {role["Arn"] for role in roles}


def test_encryption_required_provider_provisioned_through_the_server(served: Served) -> None:
    """provision() against the server: its bookkeeping alone makes Secure demand encryption."""
    f = served.forge()
    partnered = f"{A1}:role/Partnered"
    assert served.extras.get(SECURE).encryption_mode == "Required"
    plain = f.issue(role=partnered, acs=ACS)
    with pytest.raises(ClientError) as raised:
        served.sts().assume_role_with_saml(
            RoleArn=partnered, PrincipalArn=SECURE, SAMLAssertion=plain
        )
    assert raised.value.response["Error"]["Code"] == "InvalidIdentityToken"
    sealed = f.issue(role=partnered, sp="aws-encrypted")
    answer = served.sts().assume_role_with_saml(
        RoleArn=partnered, PrincipalArn=SECURE, SAMLAssertion=sealed
    )
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Partnered/alice@corp.example")


# --- (ii) provisioning with boto3 and the AWS CLI through the server ----------------------------


def _aws_cli(*args: str, url: str, env: Mapping[str, str] | None = None) -> Any:
    assert AWS_CLI is not None
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_DEFAULT_REGION": "us-east-1",
        **(env or {}),
    }
    result = subprocess.run(
        [AWS_CLI, "--endpoint-url", url, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def _trust(provider_arn: str, audience: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"SAML:aud": audience}},
                }
            ],
        }
    )


def _acs_of(served: Served, provider: str) -> str:
    """Return the ``/saml/acs/<SAMLProviderUUID>`` Recipient of a provider made in the test."""
    uuid = served.iam().get_saml_provider(SAMLProviderArn=provider)["SAMLProviderUUID"]
    return f"https://us-east-1.signin.aws.amazon.com/saml/acs/{uuid}"


def _vault_request(f: Forge, provider: str, role: str, acs: str, *, sealed: bool) -> dict[str, str]:
    pair = put(AwsAttribute.ROLE, f"{role},{provider}")
    sp = "aws-encrypted" if sealed else "aws"
    assertion = f.issue(role=role, sp=sp, acs=acs, attributes=pair)
    return {"RoleArn": role, "PrincipalArn": provider, "SAMLAssertion": assertion}


@needs_aws_cli
def test_aws_cli_provider_with_required_encryption(served: Served, tmp_path: Path) -> None:
    metadata = tmp_path / "metadata.xml"
    metadata.write_bytes(served.provider.metadata())
    created = _aws_cli(
        "iam",
        "create-saml-provider",
        "--name",
        "CliVault",
        "--saml-metadata-document",
        f"file://{metadata}",
        "--assertion-encryption-mode",
        "Required",
        "--add-private-key",
        f"file://{SP_KEY}",
        "--tags",
        "Key=team,Value=identity",
        url=f"{served.server.url}/_account/{ACCOUNT}",
    )
    provider = created["SAMLProviderArn"]
    assert provider == f"{A1}:saml-provider/CliVault"
    acs = _acs_of(served, provider)
    role = served.iam().create_role(
        RoleName="CliVaulted", AssumeRolePolicyDocument=_trust(provider, acs)
    )["Role"]["Arn"]

    f = served.forge()
    with pytest.raises(ClientError) as raised:
        served.sts().assume_role_with_saml(**_vault_request(f, provider, role, acs, sealed=False))
    assert raised.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "requires encrypted assertions" in raised.value.response["Error"]["Message"]
    answer = served.sts().assume_role_with_saml(
        **_vault_request(f, provider, role, acs, sealed=True)
    )
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert answer["Audience"] == acs

    shown = _aws_cli(
        "iam",
        "get-saml-provider",
        "--saml-provider-arn",
        provider,
        url=f"{served.server.url}/_account/{ACCOUNT}",
    )
    assert shown["AssertionEncryptionMode"] == "Required"
    assert [k["KeyId"] for k in shown["PrivateKeyList"]] == [private_key_id(SP_KEY.read_bytes())]
    assert {"Key": "team", "Value": "identity"} in shown["Tags"]
    assert shown["SAMLMetadataDocument"].startswith("<")


def _boto3_vault(served: Served, name: str, mode: str = "Required") -> tuple[str, str, str]:
    """Create an encrypting provider and a role trusting it; return their ARNs and the acs."""
    iam = served.iam()
    provider = iam.create_saml_provider(
        Name=name,
        SAMLMetadataDocument=served.provider.metadata().decode(),
        AssertionEncryptionMode=mode,
        AddPrivateKey=SP_KEY.read_text(),
    )["SAMLProviderArn"]
    acs = _acs_of(served, provider)
    role = iam.create_role(RoleName=f"{name}Role", AssumeRolePolicyDocument=_trust(provider, acs))[
        "Role"
    ]["Arn"]
    return provider, role, acs


def test_update_without_metadata_keeps_it_and_relaxes_encryption(served: Served) -> None:
    provider, role, acs = _boto3_vault(served, "Relaxed")
    served.iam().update_saml_provider(SAMLProviderArn=provider, AssertionEncryptionMode="Allowed")
    shown = served.iam().get_saml_provider(SAMLProviderArn=provider)
    assert shown["SAMLMetadataDocument"] == served.provider.metadata().decode()  # moto: None
    assert shown["AssertionEncryptionMode"] == "Allowed"
    f = served.forge()
    for sealed in (False, True):
        answer = served.sts().assume_role_with_saml(
            **_vault_request(f, provider, role, acs, sealed=sealed)
        )
        assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_private_key_rotation(served: Served, tmp_path: Path) -> None:
    provider, role, acs = _boto3_vault(served, "Rotated")
    iam = served.iam()
    key_paths = [write_pair(generate_self_signed(f"sp {i}"), tmp_path, f"k{i}")[0] for i in (1, 2)]
    iam.update_saml_provider(SAMLProviderArn=provider, AddPrivateKey=key_paths[0].read_text())
    with pytest.raises(ClientError) as too_many:
        iam.update_saml_provider(SAMLProviderArn=provider, AddPrivateKey=key_paths[1].read_text())
    assert too_many.value.response["Error"]["Code"] == "LimitExceeded"
    with pytest.raises(ClientError) as unknown:
        iam.update_saml_provider(SAMLProviderArn=provider, RemovePrivateKey="A" * 26)
    assert unknown.value.response["Error"]["Code"] == "InvalidInput"

    old = private_key_id(SP_KEY.read_bytes())
    listed = [k["KeyId"] for k in iam.get_saml_provider(SAMLProviderArn=provider)["PrivateKeyList"]]
    assert listed == [old, private_key_id(key_paths[0].read_bytes())]
    iam.update_saml_provider(SAMLProviderArn=provider, RemovePrivateKey=old)
    with pytest.raises(ClientError) as raised:  # sealed for sample-sp.crt, whose key is gone
        served.sts().assume_role_with_saml(
            **_vault_request(served.forge(), provider, role, acs, sealed=True)
        )
    assert raised.value.response["Error"]["Code"] == "InvalidIdentityToken"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"AssertionEncryptionMode": "Sometimes"}, "ValidationError"),
        (
            {"AddPrivateKey": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"},
            "InvalidInput",
        ),
    ],
    ids=["unknown-encryption-mode", "private-key-not-pem"],
)
def test_create_refuses_what_iam_refuses(
    served: Served, request_: dict[str, str], code: str
) -> None:
    with pytest.raises(ClientError) as raised:
        served.iam().create_saml_provider(
            Name="Refused", SAMLMetadataDocument=served.provider.metadata().decode(), **request_
        )
    assert raised.value.response["Error"]["Code"] == code
    assert f"{A1}:saml-provider/Refused" not in served.extras


def test_delete_forgets_the_extras(served: Served) -> None:
    provider, _, _ = _boto3_vault(served, "Deleted")
    assert served.extras.get(provider).encryption_mode == "Required"
    served.iam().delete_saml_provider(SAMLProviderArn=provider)
    assert provider not in served.extras


def test_provider_tags(served: Served) -> None:
    provider, _, _ = _boto3_vault(served, "Tagged")
    iam = served.iam()
    iam.tag_saml_provider(
        SAMLProviderArn=provider,
        Tags=[{"Key": "env", "Value": "test"}, {"Key": "owner", "Value": "idt"}],
    )
    iam.untag_saml_provider(SAMLProviderArn=provider, TagKeys=["owner"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=provider)["Tags"] == [
        {"Key": "env", "Value": "test"}
    ]
    with pytest.raises(ClientError) as raised:
        iam.list_saml_provider_tags(SAMLProviderArn=f"{A1}:saml-provider/Nope")
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"


# --- (iii) the command, as a process -----------------------------------------------------------

URL = re.compile(rb"listening on (http://127\.0\.0\.1:\d+)")


def _wait_for_url(process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[str, bytes]:
    """Read the command's stdout until it prints its URL (or exits, or time runs out)."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (match := URL.search(seen)) is None or b"Ctrl-C" not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no URL within {timeout}s: {seen!r}"
            if selector.select(remaining):
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, f"exited early: {seen!r}"
                seen += chunk
    return match.group(1).decode(), seen


@needs_aws_cli
def test_serve_command_end_to_end(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "scenarios.cli_sts",
        "serve",
        "--port",
        "0",
        "--config",
        str(WORLD.relative_to(ROOT)),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, banner = _wait_for_url(process)
        assert f"saml-provider {A1}:saml-provider/CorpIdP".encode() in banner
        assert f"role          {ADMIN}".encode() in banner
        assert f"AWS_ENDPOINT_URL_STS={url}".encode() in banner

        response = tmp_path / "response.b64"
        issued = subprocess.run(
            [
                sys.executable,
                "-m",
                "scenarios.cli",
                "idp",
                "assertion",
                "--config",
                str(WORLD),
                "--user",
                "alice",
                "--role",
                ADMIN,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
        response.write_text(issued.stdout.strip())
        answer = _aws_cli(
            "sts",
            "assume-role-with-saml",
            "--role-arn",
            ADMIN,
            "--principal-arn",
            CORP,
            "--saml-assertion",
            f"file://{response}",
            url=url,
        )
        credentials = answer["Credentials"]
        caller = _aws_cli(
            "sts",
            "get-caller-identity",
            url=url,
            env={
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            },
        )
        assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@corp.example"
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert b"stopped" in stdout
    assert b"Traceback" not in stderr, stderr.decode()


# --- (iv) safe defaults ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "sts.example.com"])  # noqa: S104
def test_non_loopback_host_needs_allow_remote(host: str) -> None:
    result = CliRunner().invoke(sts, ["serve", "--host", host, "--port", "0"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-remote" in lines[0], result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


def test_busy_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(sts, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: cannot listen on 127.0.0.1"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
