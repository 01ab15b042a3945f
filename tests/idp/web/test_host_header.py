"""DNS rebinding: the IdP answers only loopback names and its base_url's host.

A web page whose name an attacker re-points at 127.0.0.1 would otherwise be same-origin with the
IdP, read its API and have it sign assertions for any user.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from idp.app import RunningIdp, WebConfig, create_app, serve_in_thread
from tests.conftest import EXAMPLES

QUICKSTART = EXAMPLES / "quickstart.yaml"


@pytest.fixture(scope="module")
def served() -> Iterator[RunningIdp]:
    running = serve_in_thread(WebConfig.from_file(QUICKSTART))
    try:
        yield running
    finally:
        running.stop()


def request(
    running: RunningIdp, method: str, path: str, host: str, body: dict[str, object] | None = None
) -> tuple[int, bytes]:
    address = urlsplit(running.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Host": host, "Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/users", None),
        ("POST", "/api/saml-response", {"user": "alice", "sp": "aws"}),
        ("GET", "/sso/aws?user=alice", None),
        ("GET", "/metadata", None),
    ],
    ids=["read-users", "mint-response", "sign-in", "metadata"],
)
def test_a_rebound_name_is_refused(
    served: RunningIdp, method: str, path: str, body: dict[str, object] | None
) -> None:
    status, text = request(served, method, path, "attacker.example:5000", body)
    assert status == 400
    assert b"DNS rebinding" in text
    assert b"SAMLResponse" not in text


def test_a_rebound_name_cannot_change_groups(served: RunningIdp) -> None:
    port = urlsplit(served.url).port
    status, _ = request(
        served, "PUT", "/api/users/bob/groups", "attacker.example", {"groups": ["aws-prod-admins"]}
    )
    assert status == 400
    status, text = request(served, "GET", "/api/users/bob", f"127.0.0.1:{port}")
    assert status == 200
    assert "aws-prod-admins" not in json.loads(text)["user"]["groups"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_names_are_served(served: RunningIdp, host: str) -> None:
    port = urlsplit(served.url).port
    status, _ = request(served, "GET", "/api/users", f"{host}:{port}")
    assert status == 200


def test_the_base_url_host_is_served() -> None:
    config = WebConfig.from_file(QUICKSTART, base_url="http://idp.test:8080")
    client = create_app(config).test_client()
    assert client.get("/api/users", headers={"Host": "idp.test:8080"}).status_code == 200
    assert client.get("/api/users", headers={"Host": "other.test:8080"}).status_code == 400


def test_any_host_when_serving_remotely() -> None:
    config = dataclasses.replace(WebConfig.from_file(QUICKSTART), any_host=True)
    client = create_app(config).test_client()
    assert client.get("/api/users", headers={"Host": "idp.corp.example"}).status_code == 200


@pytest.mark.parametrize(
    "host", ["x" * 300, "[bad", "évil.example"], ids=["long", "bracket", "idn"]
)
def test_a_host_werkzeug_cannot_route_still_gets_an_error_page(host: str) -> None:
    client = create_app(WebConfig.from_file(QUICKSTART)).test_client()
    response = client.get("/login", headers={"Host": host, "Accept": "text/html"})
    assert response.status_code == 400
    assert b"DNS rebinding" in response.data
