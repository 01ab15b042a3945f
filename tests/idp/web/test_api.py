"""The JSON API for CI: issue responses, list users, change groups at run time."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from lxml import etree

from idp.app import RunningIdp
from idp.saml.constants import AWS_SIGNIN_URL, NSMAP
from tests.idp.web.conftest import ADMIN, PROVIDER, READ_ONLY

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"


def api(idp: RunningIdp, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{idp.url}/api{path}", json=body, timeout=10)


def role_values(xml: bytes) -> list[str]:
    found = etree.fromstring(xml).xpath(
        f"//saml:Attribute[@Name='{ROLE}']/saml:AttributeValue/text()", namespaces=NSMAP
    )
    return sorted(str(v) for v in found)  # type: ignore[union-attr]


def test_saml_response_returns_base64_xml_and_relay_state(idp_web: RunningIdp) -> None:
    answer = api(idp_web, "POST", "/saml-response", {"user": "alice", "sp": "aws"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"saml_response", "xml", "relay_state"}
    xml = base64.b64decode(body["saml_response"], validate=True)
    assert xml.decode() == body["xml"]
    assert body["relay_state"] == "https://console.aws.amazon.com/"
    assert body["acs"] == AWS_SIGNIN_URL
    assert role_values(xml) == sorted([f"{ADMIN},{PROVIDER}", f"{READ_ONLY},{PROVIDER}"])


def test_saml_response_overrides_reach_the_xml(idp_web: RunningIdp) -> None:
    answer = api(
        idp_web,
        "POST",
        "/saml-response",
        {
            "user": "alice",
            "role": ADMIN,
            "relay_state": "rs",
            "overrides": {
                "assertion": {
                    "audiences": ["urn:wrong"],
                    "name_id": None,
                    "not_on_or_after": "2020-01-01T00:00:00Z",
                    "attributes": [{"name": "custom", "values": ["a", "b"]}],
                },
                "response": {"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"},
            },
        },
    )
    assert answer.status_code == 200, answer.text
    xml = answer.json()["xml"]
    assert "<saml:Audience>urn:wrong</saml:Audience>" in xml
    assert "<saml:NameID" not in xml
    assert 'NotOnOrAfter="2020-01-01T00:00:00.000Z"' in xml
    assert 'Name="custom"' in xml and ROLE not in xml
    assert "status:Responder" in xml
    assert answer.json()["relay_state"] == "rs"


API_ERRORS: dict[str, tuple[str, str, Any, int, str, str]] = {
    "unknown-user": (
        "POST",
        "/saml-response",
        {"user": "zed"},
        404,
        "unknown_user",
        "unknown user 'zed'",
    ),
    "unknown-sp": (
        "POST",
        "/saml-response",
        {"user": "alice", "sp": "nope"},
        404,
        "unknown_sp",
        "unknown service provider 'nope'",
    ),
    "role-not-granted": (
        "POST",
        "/saml-response",
        {"user": "bob", "role": ADMIN},
        403,
        "role_not_granted",
        "is not granted",
    ),
    "unregistered-acs": (
        "POST",
        "/saml-response",
        {"user": "alice", "acs": "https://evil.example/"},
        403,
        "unregistered_acs",
        "is not a registered ACS",
    ),
    "unknown-override": (
        "POST",
        "/saml-response",
        {"user": "alice", "overrides": {"assertion": {"bogus": 1}}},
        400,
        "bad_request",
        "overrides.assertion.bogus: Extra inputs",
    ),
    "naive-time": (
        "POST",
        "/saml-response",
        {"user": "alice", "overrides": {"assertion": {"not_before": "2026-01-01T00:00:00"}}},
        400,
        "bad_request",
        "timezone info",
    ),
    "missing-user": (
        "POST",
        "/saml-response",
        {"sp": "aws"},
        400,
        "bad_request",
        "user: Field required",
    ),
    "body-not-object": ("POST", "/saml-response", ["alice"], 400, "bad_request", "body"),
    "groups-unknown-user": (
        "PUT",
        "/users/zed/groups",
        {"groups": []},
        404,
        "unknown_user",
        "unknown user 'zed'",
    ),
    "groups-bad-body": (
        "PUT",
        "/users/alice/groups",
        {"groups": "admins"},
        400,
        "bad_request",
        "groups: Input should be a valid list",
    ),
    "user-unknown": ("GET", "/users/zed", None, 404, "unknown_user", "unknown user"),
    "no-such-endpoint": ("GET", "/nothing", None, 404, "not_found", "not found"),
    "wrong-method": ("DELETE", "/users", None, 405, "method_not_allowed", "not allowed"),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    API_ERRORS.values(),
    ids=API_ERRORS.keys(),
)
def test_api_errors_are_json(
    idp_web: RunningIdp, method: str, path: str, body: Any, status: int, code: str, message: str
) -> None:
    answer = api(idp_web, method, path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert message in error["message"]


def test_api_refuses_bodies_that_are_not_json(idp_web: RunningIdp) -> None:
    form = requests.post(f"{idp_web.url}/api/saml-response", data={"user": "alice"}, timeout=10)
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    broken = requests.post(
        f"{idp_web.url}/api/saml-response",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "the body is not valid JSON"


def test_users_lists_direct_and_inherited_groups(idp_web: RunningIdp) -> None:
    users = {u["name"]: u for u in api(idp_web, "GET", "/users").json()["users"]}
    assert list(users) == ["alice", "bob", "dave"]
    assert users["alice"]["groups"] == ["platform"]
    assert users["alice"]["all_groups"] == ["platform", "admins", "readers"]
    assert users["bob"]["has_password"] is True
    assert "password" not in users["bob"]


def test_user_shows_the_attributes_sent(idp_web: RunningIdp) -> None:
    user = api(idp_web, "GET", "/users/bob").json()["user"]
    assert user["attributes"][ROLE] == [f"{READ_ONLY},{PROVIDER}"]


def test_group_changes_last_until_reset(idp_web: RunningIdp) -> None:
    changed = api(idp_web, "PUT", "/users/bob/groups", {"groups": ["admins"]}).json()["user"]
    assert changed["groups"] == ["admins"]
    xml = api(idp_web, "POST", "/saml-response", {"user": "bob"}).json()["xml"].encode()
    assert role_values(xml) == [f"{ADMIN},{PROVIDER}"]
    listed = {u["name"]: u for u in api(idp_web, "GET", "/users").json()["users"]}
    assert listed["bob"]["groups"] == ["admins"]
    assert listed["alice"]["groups"] == ["platform"]
    assert api(idp_web, "POST", "/reset").status_code == 200
    xml = api(idp_web, "POST", "/saml-response", {"user": "bob"}).json()["xml"].encode()
    assert role_values(xml) == [f"{READ_ONLY},{PROVIDER}"]


def test_health(idp_web: RunningIdp) -> None:
    assert api(idp_web, "GET", "/health").json() == {"status": "ok"}
