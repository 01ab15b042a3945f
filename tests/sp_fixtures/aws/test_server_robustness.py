"""Hostile requests from an audit of ``sts serve``, each sent byte for byte to a real server:
each gets the right 4xx in AWS's ``ErrorResponse`` (never a 500), and a normal
AssumeRoleWithSAML still succeeds on the same server afterwards.

1. trust policies IAM refuses (50,000 nested ``[``, ``{bad``, over the 2,048-character quota) are
   refused by CreateRole / UpdateAssumeRolePolicy, and one stored behind the server's back is
   refused by the strict STS without recursing;
2. a malformed SigV4 ``Authorization`` header: IncompleteSignature, AssumeRoleWithSAML included;
3. a broken chunked body: InvalidQueryParameter;
4. STS/IAM actions that do not exist, lack required parameters, or that moto fails on;
5. requests naming no action: MissingAction (not S3's ListBuckets), while S3 signed for S3,
   ``/moto-api`` and the other STS/IAM calls keep working.
"""

from __future__ import annotations

import dataclasses
import http.client
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from lxml import etree

from idp.saml.constants import AwsAttribute
from sp_fixtures.aws.iam_view import pin_moto_account
from tests.sp_fixtures.aws.served import ServedWorld, served_world
from tests.sp_fixtures.aws.sts_cases import A1, ADMIN, CORP

ACCOUNT = "111111111111"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
DATE = "20261128"


def signed_for(service: str) -> str:
    """A well-formed SigV4 Authorization header (moto checks no signature)."""
    return (
        f"AWS4-HMAC-SHA256 Credential=testing/{DATE}/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )


DEEP = "[" * 50_000 + "]" * 50_000
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"'
    + CORP
    + '"},"Action":"sts:AssumeRoleWithSAML"}]}'
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    """The rule-test world in moto, served by ``sts serve``'s app on a free 127.0.0.1 port."""
    with served_world(tmp_path_factory.mktemp("stranger"), "server-robustness") as served:
        yield served


# --- sending raw requests ------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A request written byte by byte: http.client adds only Host (and Content-Length unless
    the request is chunked or ``length`` is False)."""

    body: bytes = b""
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": FORM})
    length: bool = True


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def root(self) -> etree._Element:
        return etree.fromstring(self.body)

    @property
    def code(self) -> str:
        root = self.root()
        assert etree.QName(root).localname == "ErrorResponse", self.body[:300]
        return str(root.findtext("{*}Error/{*}Code"))

    @property
    def message(self) -> str:
        return str(self.root().findtext("{*}Error/{*}Message"))

    @property
    def namespace(self) -> str | None:
        return etree.QName(self.root()).namespace


def send(world: ServedWorld, raw: Raw) -> Reply:
    parts = urlsplit(world.server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(raw.method, raw.path, skip_accept_encoding=True)
        headers = dict(raw.headers)
        chunked = any(
            v.lower() == "chunked" for k, v in headers.items() if k.lower() == "transfer-encoding"
        )
        if raw.length and not chunked and "content-length" not in {k.lower() for k in headers}:
            headers["Content-Length"] = str(len(raw.body))
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders()
        if raw.body:
            connection.send(raw.body)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def query(**params: str) -> bytes:
    return urlencode(params).encode()


def saml_form(world: ServedWorld, **extra: str) -> bytes:
    """The form of an AssumeRoleWithSAML that succeeds, plus ``extra``."""
    return query(
        Action="AssumeRoleWithSAML",
        Version="2011-06-15",
        RoleArn=ADMIN,
        PrincipalArn=CORP,
        SAMLAssertion=world.forge().issue(),
        **extra,
    )


def iam_form(action: str, **params: str) -> bytes:
    return query(Action=action, Version="2010-05-08", **params)


def iam_request(body: bytes, *, path: str = f"/_account/{ACCOUNT}") -> Raw:
    return Raw(body, path=path, headers={"Content-Type": FORM, "Authorization": signed_for("iam")})


def assert_refused(reply: Reply, status: int, code: str, namespace: str = STS_NS) -> None:
    assert reply.status == status, reply.body[:500]
    assert reply.headers["Content-Type"] == "text/xml"
    assert reply.code == code, reply.message
    assert reply.namespace == namespace
    assert b"Traceback" not in reply.body


def assert_still_serves(world: ServedWorld) -> None:
    """A normal AssumeRoleWithSAML on the same server still gets credentials."""
    reply = send(world, Raw(saml_form(world)))
    assert reply.status == 200, reply.body[:500]
    root = reply.root()
    assert etree.QName(root).localname == "AssumeRoleWithSAMLResponse"
    assert str(root.findtext(".//{*}AccessKeyId")).startswith("ASIA")
    assert root.findtext(".//{*}Subject") == "alice"


def iam(world: ServedWorld) -> Any:
    client = boto3.client(
        "iam",
        endpoint_url=world.server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pin_moto_account(client, ACCOUNT)
    return client


def role_exists(world: ServedWorld, name: str) -> bool:
    return any(role["RoleName"] == name for role in iam(world).list_roles()["Roles"])


# --- 1. trust policies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (DEEP, "Syntax errors in policy."),
        ("{bad", "Syntax errors in policy."),
        ('{"Statement":{"Action":"sts:AssumeRoleWithSAML"}}', "Statement[0]: missing Effect"),
    ],
    ids=["50000-nested-brackets", "not-json", "no-effect"],
)
def test_create_role_refuses_a_malformed_trust_policy(
    world: ServedWorld, document: str, message: str
) -> None:
    body = iam_form("CreateRole", RoleName="Hostile", AssumeRolePolicyDocument=document)
    reply = send(world, iam_request(body))
    assert_refused(reply, 400, "MalformedPolicyDocument", IAM_NS)
    assert reply.message == message
    assert not role_exists(world, "Hostile")
    assert_still_serves(world)


def test_update_assume_role_policy_refuses_a_deep_trust_policy(world: ServedWorld) -> None:
    body = iam_form("UpdateAssumeRolePolicy", RoleName="Admin", PolicyDocument=DEEP)
    reply = send(world, iam_request(body))
    assert_refused(reply, 400, "MalformedPolicyDocument", IAM_NS)
    assert reply.message == "Syntax errors in policy."
    assert_still_serves(world)  # Admin's trust policy is unchanged


def test_trust_policy_over_the_default_quota_is_limit_exceeded(world: ServedWorld) -> None:
    subjects = ",".join(f'"{n:040d}"' for n in range(60))
    document = TRUST.replace(
        '"Action"', '"Condition":{"StringEquals":{"saml:sub":[' + subjects + ']}},"Action"'
    )
    assert len(document) > 2048
    reply = send(
        world,
        iam_request(iam_form("CreateRole", RoleName="Big", AssumeRolePolicyDocument=document)),
    )
    assert_refused(reply, 409, "LimitExceeded", IAM_NS)
    assert reply.message == "Cannot exceed quota for ACLSizePerRole: 2048"
    assert not role_exists(world, "Big")
    assert_still_serves(world)


def test_white_space_does_not_count_against_the_quota(world: ServedWorld) -> None:
    document = TRUST.replace("{", "{\n" + " " * 800)
    assert len(document) > 2048
    reply = send(
        world,
        iam_request(iam_form("CreateRole", RoleName="Airy", AssumeRolePolicyDocument=document)),
    )
    assert reply.status == 200, reply.body[:500]
    iam(world).delete_role(RoleName="Airy")
    assert_still_serves(world)


def test_trust_policy_outside_the_allowed_characters_is_a_validation_error(
    world: ServedWorld,
) -> None:
    document = TRUST.replace("Allow", "Allow\u2603")
    reply = send(
        world,
        iam_request(iam_form("CreateRole", RoleName="Snow", AssumeRolePolicyDocument=document)),
    )
    assert_refused(reply, 400, "ValidationError", IAM_NS)
    assert "at 'assumeRolePolicyDocument' failed to satisfy constraint" in reply.message
    assert_still_serves(world)


def test_deep_trust_policy_stored_behind_the_servers_back_is_denied(world: ServedWorld) -> None:
    # moto itself stores anything: the strict STS must refuse it without recursing (was a 500).
    # Stored in moto's backend directly: botocore would itself recurse decoding the reply.
    from moto.iam.models import iam_backends

    backend = iam_backends[ACCOUNT]["aws"]
    backend.create_role(
        role_name="Deep",
        assume_role_policy_document=DEEP,
        path="/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration="3600",
    )
    deep = f"{A1}:role/Deep"
    try:

        def only_deep(attributes: Any) -> Any:
            return tuple(
                dataclasses.replace(a, values=(f"{deep},{CORP}",))
                if a.name == AwsAttribute.ROLE
                else a
                for a in attributes
            )

        assertion = world.forge().issue(attributes=only_deep)
        body = query(
            Action="AssumeRoleWithSAML",
            RoleArn=deep,
            PrincipalArn=CORP,
            SAMLAssertion=assertion,
        )
        reply = send(world, Raw(body))
        assert_refused(reply, 403, "AccessDenied")
        assert reply.message == "Not authorized to perform sts:AssumeRoleWithSAML"
    finally:
        backend.delete_role("Deep")
    assert_still_serves(world)


def test_deep_session_policy_is_malformed_not_a_crash(world: ServedWorld) -> None:
    # 2,040 characters: within Policy's 2,048, deeper than json.loads can recurse.
    reply = send(world, Raw(saml_form(world, Policy="[" * 1020 + "]" * 1020)))
    assert_refused(reply, 400, "MalformedPolicyDocument")
    assert_still_serves(world)


# --- 2. malformed Authorization headers ----------------------------------------------------


MALFORMED_AUTHORIZATION = {
    "sigv4-garbage": "AWS4-HMAC-SHA256 garbage",
    "sigv4-no-signature": f"AWS4-HMAC-SHA256 Credential=testing/{DATE}/us-east-1/sts/aws4_request",
    "sigv4-short-scope": "AWS4-HMAC-SHA256 Credential=testing/sts, SignedHeaders=host, Signature=0",
    "sigv4-credential-not-first": (
        f"AWS4-HMAC-SHA256 SignedHeaders=host, Credential=testing/{DATE}/us-east-1/sts/"
        "aws4_request, Signature=0"
    ),
    "bearer": "Bearer abc",
    "bare-word": "garbage",
}


@pytest.mark.parametrize(
    "authorization", MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION.keys()
)
def test_assume_role_with_saml_with_malformed_authorization_is_refused(
    world: ServedWorld, authorization: str
) -> None:
    # AssumeRoleWithSAML is unsigned on AWS; a malformed header on it is refused (fail closed).
    headers = {"Content-Type": FORM, "Authorization": authorization}
    reply = send(world, Raw(saml_form(world), headers=headers))
    assert_refused(reply, 400, "IncompleteSignature")
    assert_still_serves(world)


def test_malformed_authorization_on_an_iam_call_is_refused(world: ServedWorld) -> None:
    headers = {"Content-Type": FORM, "Authorization": "AWS4-HMAC-SHA256 garbage"}
    reply = send(world, Raw(iam_form("ListRoles"), headers=headers))
    assert_refused(reply, 400, "IncompleteSignature")
    assert "'garbage' not a valid key=value pair (missing equal-sign)" in reply.message
    assert_still_serves(world)


def test_well_formed_signature_on_assume_role_with_saml_is_ignored(world: ServedWorld) -> None:
    headers = {"Content-Type": FORM, "Authorization": signed_for("sts")}
    reply = send(world, Raw(saml_form(world), headers=headers))
    assert reply.status == 200, reply.body[:500]
    assert_still_serves(world)


# --- 3. unreadable bodies ------------------------------------------------------------------


def test_broken_chunked_body_is_refused(world: ServedWorld) -> None:
    headers = {"Content-Type": FORM, "Transfer-Encoding": "chunked"}
    reply = send(world, Raw(b"zz\r\nabc\r\n", headers=headers))
    assert_refused(reply, 400, "InvalidQueryParameter")
    assert "could not be read" in reply.message
    assert reply.headers.get("Connection") == "close"
    assert_still_serves(world)


# --- 4. STS/IAM actions moto cannot take ---------------------------------------------------


@pytest.mark.parametrize(
    ("service", "version", "namespace"),
    [("iam", "2010-05-08", IAM_NS), ("sts", "2011-06-15", STS_NS)],
)
def test_unknown_action_is_invalid_action(
    world: ServedWorld, service: str, version: str, namespace: str
) -> None:
    headers = {"Content-Type": FORM, "Authorization": signed_for(service)}
    reply = send(world, Raw(query(Action="Nope", Version=version), headers=headers))
    assert_refused(reply, 400, "InvalidAction", namespace)
    assert reply.message == f"Could not find operation Nope for version {version}"
    assert_still_serves(world)


def test_web_identity_signed_for_iam_is_not_an_iam_action(world: ServedWorld) -> None:
    reply = send(world, iam_request(iam_form("AssumeRoleWithWebIdentity"), path="/"))
    assert_refused(reply, 400, "InvalidAction", IAM_NS)
    assert reply.message == (
        "Could not find operation AssumeRoleWithWebIdentity for version 2010-05-08"
    )
    assert_still_serves(world)


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": FORM, "Authorization": signed_for("sts")}, {"Content-Type": FORM}],
    ids=["signed-for-sts", "unsigned"],
)
def test_web_identity_without_parameters_is_a_validation_error(
    world: ServedWorld, headers: dict[str, str]
) -> None:
    body = query(Action="AssumeRoleWithWebIdentity", Version="2011-06-15")
    reply = send(world, Raw(body, headers=headers))
    assert_refused(reply, 400, "ValidationError")
    assert reply.message == (
        "3 validation errors detected: "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"
    )
    assert_still_serves(world)


def test_iam_call_missing_a_required_parameter_is_a_validation_error(world: ServedWorld) -> None:
    reply = send(world, iam_request(iam_form("GetRole")))  # moto: NoSuchEntity "Role None"
    assert_refused(reply, 400, "ValidationError", IAM_NS)
    assert reply.message == (
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert_still_serves(world)


def test_moto_crash_is_a_validation_error(world: ServedWorld) -> None:
    # moto 5.2: IndexError on a service name without a dot (was an HTML 500 page).
    reply = send(world, iam_request(iam_form("CreateServiceLinkedRole", AWSServiceName="x")))
    assert_refused(reply, 400, "ValidationError", IAM_NS)
    assert "moto failed on CreateServiceLinkedRole" in reply.message
    assert_still_serves(world)


def test_operation_moto_lacks_is_invalid_action(world: ServedWorld) -> None:
    body = iam_form(
        "SimulateCustomPolicy",
        **{
            "PolicyInputList.member.1": TRUST,
            "ActionNames.member.1": "sts:AssumeRoleWithSAML",
        },
    )
    reply = send(world, iam_request(body))
    assert_refused(reply, 400, "InvalidAction", IAM_NS)
    assert "not implemented by moto" in reply.message
    assert_still_serves(world)


def test_iam_call_with_a_json_body_is_refused(world: ServedWorld) -> None:
    headers = {"Content-Type": "application/json", "Authorization": signed_for("iam")}
    reply = send(world, Raw(b'{"Action": "ListRoles"}', headers=headers))
    assert_refused(reply, 400, "InvalidQueryParameter", IAM_NS)
    assert_still_serves(world)


# --- 5. requests that name no action -------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
NO_ACTION = {
    "empty-post": Raw(),
    "empty-get": Raw(method="GET", headers={}),
    "form-without-action": Raw(query(Version="2011-06-15", RoleArn=ADMIN)),
    "text-xml-body": Raw(b"<Envelope><Body/></Envelope>", headers={"Content-Type": "text/xml"}),
    "xml-bomb-body": Raw(BILLION_LAUGHS, headers={"Content-Type": "text/xml"}),
    "binary-body": Raw(bytes(range(256)), headers={"Content-Type": "application/octet-stream"}),
    "x-amz-target-unknown": Raw(
        b"{}", headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "garbage"}
    ),
    "options": Raw(method="OPTIONS", headers={}),
    "signed-for-sts-empty": Raw(headers={"Content-Type": FORM, "Authorization": signed_for("sts")}),
}


@pytest.mark.parametrize("raw", NO_ACTION.values(), ids=NO_ACTION.keys())
def test_request_naming_no_action_is_missing_action(world: ServedWorld, raw: Raw) -> None:
    reply = send(world, raw)
    assert_refused(reply, 400, "MissingAction")
    assert reply.message == "Missing Action"
    assert b"ListAllMyBucketsResult" not in reply.body
    assert_still_serves(world)


@pytest.mark.parametrize(
    ("body", "namespace"),
    [
        (query(Action="GetCallerIdentity", Version="2011-06-15"), STS_NS),
        (query(Action="GetSessionToken", Version="2011-06-15"), STS_NS),
        (iam_form("ListRoles"), IAM_NS),
    ],
    ids=["GetCallerIdentity", "GetSessionToken", "iam-ListRoles"],
)
def test_unsigned_call_needing_a_signature_is_refused(
    world: ServedWorld, body: bytes, namespace: str
) -> None:
    reply = send(world, Raw(body))
    assert_refused(reply, 403, "MissingAuthenticationToken", namespace)
    assert reply.message == "Request is missing Authentication Token"
    assert_still_serves(world)


def test_unsigned_unknown_action_is_invalid_action(world: ServedWorld) -> None:
    reply = send(world, Raw(query(Action="FooBar", Version="2011-06-15")))
    assert_refused(reply, 400, "InvalidAction")
    assert reply.message == "Could not find operation FooBar for version 2011-06-15"
    assert_still_serves(world)


def test_unsigned_web_identity_in_the_query_string_is_refused(world: ServedWorld) -> None:
    path = "/?" + query(Action="AssumeRoleWithWebIdentity", Version="2011-06-15").decode()
    reply = send(world, Raw(method="GET", path=path, headers={}))
    assert_refused(reply, 400, "InvalidQueryParameter")
    assert_still_serves(world)


def test_other_services_and_calls_still_reach_moto(world: ServedWorld) -> None:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", endpoint_url=world.server.url, region_name="us-east-1", **keys)
    s3.create_bucket(Bucket="robustness")
    assert "robustness" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    url = s3.generate_presigned_url("list_buckets")
    presigned = send(world, Raw(method="GET", path=url[len(world.server.url) :], headers={}))
    assert presigned.status == 200
    assert etree.QName(presigned.root()).localname == "ListAllMyBucketsResult"
    s3.delete_bucket(Bucket="robustness")

    sts = boto3.client("sts", endpoint_url=world.server.url, region_name="us-east-1", **keys)
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert f"{A1}:role/Admin" in {role["Arn"] for role in iam(world).list_roles()["Roles"]}
    moto_api = send(world, Raw(method="GET", path="/moto-api/data.json", headers={}))
    assert moto_api.status == 200
    assert_still_serves(world)
