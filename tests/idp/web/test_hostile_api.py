"""Hostile clients: what they send is refused with a 4xx, never stored, and the IdP keeps serving.

Each test sends the hostile input exactly as a client would (raw JSON with ``\\ud800`` escapes,
raw percent-encoded bytes) to the Flask app, then checks that ``/login`` and ``/sso/aws`` still
answer normally. The fuzz tests at the end do the same with random input.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import io
import json
import re
import signal
import subprocess
import sys
import typing
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import BaseModel
from werkzeug.test import TestResponse

from idp.app import MAX_BODY_BYTES, WebConfig, create_app
from idp.saml.builder import new_id, saml_time
from idp.saml.constants import NS, Binding, NameIDFormat, qname
from idp.views.api import (
    MAX_GROUP_NAME,
    MAX_GROUPS,
    MAX_SUBJECT_CONFIRMATIONS,
    AssertionOverrides,
    GroupsRequest,
    ResponseOverrides,
    SamlResponseRequest,
)
from idp.views.common import EXTENSION, WebState
from tests.idp.web.conftest import ADMIN, write_idp_config

NOT_XML_TEXT = {
    "lone-high-surrogate": "\ud800",
    "lone-low-surrogate": "\udfff",
    "surrogate-inside": "admins\udc00x",
    "nul": "\x00",
    "control-01": "a\x01b",
    "control-1f": "\x1f",
    "vertical-tab": "\x0b",
    "fffe": "\ufffe",
    "ffff": "\uffff",
}
"""Strings that XML or UTF-8 cannot carry."""
XML_TEXT_EDGES = [
    "tab\there",
    "line\nbreak\r",
    "\x7f",
    "\ud7ff",
    "\ue000",
    "\ufffd",
    "\U0001f600",
    "\U0010ffff",
]
"""Unusual strings that are XML text, and must be accepted."""
ROOT = Path(__file__).resolve().parents[3]
NAME_ID_FORMATS = [f.value for f in NameIDFormat]
SP_BASE = "http://127.0.0.1:9"
PLAIN_SP_ENTITY_ID = "http://plain-sp.test/metadata"
PLAIN_SP_ACS = f"{SP_BASE}/plain-sp/acs"


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the web IdP's test config (its SPs are never contacted here)."""
    return write_idp_config(tmp_path_factory.mktemp("hostile"), SP_BASE)


@pytest.fixture(scope="module")
def app(config_path: Path) -> Flask:
    """Return the web IdP as a Flask app."""
    return create_app(WebConfig.from_file(config_path))


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """Return a test client; afterwards the IdP must still serve and must not have failed."""
    found: WebState = app.extensions[EXTENSION]
    found.unexpected.clear()
    yield app.test_client()
    try:
        assert not found.unexpected, f"the IdP failed unexpectedly: {found.unexpected[0]!r}"
    finally:
        found.directory.reset()
        found.unexpected.clear()


def send_json(client: FlaskClient, method: str, path: str, raw: str | bytes) -> TestResponse:
    """Send ``raw`` as the JSON body, byte for byte."""
    return client.open(path, method=method, data=raw, content_type="application/json")


def as_json(value: Any) -> str:
    """Return ``value`` as JSON text, non-ASCII (and lone surrogates) as ``\\uXXXX`` escapes."""
    return json.dumps(value, ensure_ascii=True)


def assert_refused(answer: TestResponse, status: int, code: str, *words: str) -> None:
    """Check the JSON error: its status, code, and that its message has each of ``words``."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    for word in words:
        assert word in error["message"]


def assert_still_serving(client: FlaskClient) -> None:
    """Check that the login page and IdP-initiated sign-in work as before."""
    login = client.get("/login")
    assert login.status_code == 200
    assert "Sign in as alice" in login.get_data(as_text=True)
    picker = client.get("/sso/aws")
    assert picker.status_code == 200
    assert "Sign in as bob" in picker.get_data(as_text=True)
    signed_in = client.get("/sso/aws?user=alice")
    assert signed_in.status_code == 200
    assert 'name="SAMLResponse"' in signed_in.get_data(as_text=True)
    users = client.get("/api/users").get_json()["users"]
    assert {u["name"]: u["groups"] for u in users} == {
        "alice": ["platform"],
        "bob": ["readers"],
        "dave": ["readers"],
    }


# --- 1. strings that are not XML text ------------------------------------------------------------


@pytest.mark.parametrize("text", NOT_XML_TEXT.values(), ids=NOT_XML_TEXT.keys())
def test_group_that_is_not_xml_text_is_refused_and_not_stored(
    client: FlaskClient, text: str
) -> None:
    answer = send_json(client, "PUT", "/api/users/bob/groups", as_json({"groups": [text]}))
    assert_refused(answer, 400, "bad_request", "groups.0: U+", "must be XML text")
    assert client.get("/api/users/bob").get_json()["user"]["groups"] == ["readers"]
    assert_still_serving(client)


def test_audit_lone_surrogate_group_exactly_as_reported(client: FlaskClient) -> None:
    answer = send_json(client, "PUT", "/api/users/bob/groups", '{"groups":["\\ud800"]}')
    assert_refused(answer, 400, "bad_request", "groups.0", "U+D800", "lone surrogate")
    assert_still_serving(client)


def test_refused_group_is_not_shared_with_other_workers(config_path: Path, tmp_path: Path) -> None:
    shared = tmp_path / "groups.json"
    workers = [create_app(WebConfig.from_file(config_path, shared_state=shared)) for _ in range(2)]
    one, other = (worker.test_client() for worker in workers)
    assert (
        send_json(one, "PUT", "/api/users/bob/groups", '{"groups":["\\ud800"]}').status_code == 400
    )
    assert (
        send_json(one, "PUT", "/api/users/bob/groups", '{"groups":["admins"]}').status_code == 200
    )
    assert (
        send_json(other, "PUT", "/api/users/alice/groups", '{"groups":["a\\u0000"]}').status_code
        == 400
    )
    for client in (one, other):
        login = client.get("/login")
        assert login.status_code == 200
        assert client.get("/sso/aws").status_code == 200
        assert client.get("/api/users/bob").get_json()["user"]["groups"] == ["admins"]
    assert "\\u" not in shared.read_text(encoding="utf-8")
    for worker in workers:
        assert not worker.extensions[EXTENSION].unexpected


def _string_fields(model: type[Any]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if "str" in repr(field.annotation) and "list" not in repr(field.annotation)
    ]


STRING_PLACES: dict[str, tuple[str, str, Any]] = {
    "user": ("POST", "/api/saml-response", {"user": "{}"}),
    "sp": ("POST", "/api/saml-response", {"user": "alice", "sp": "{}"}),
    "role": ("POST", "/api/saml-response", {"user": "alice", "role": "{}"}),
    "acs": ("POST", "/api/saml-response", {"user": "alice", "acs": "{}"}),
    "relay_state": ("POST", "/api/saml-response", {"user": "alice", "relay_state": "{}"}),
    "in_response_to": ("POST", "/api/saml-response", {"user": "alice", "in_response_to": "{}"}),
    **{
        f"overrides.assertion.{name}": (
            "POST",
            "/api/saml-response",
            {"user": "alice", "overrides": {"assertion": {name: "{}"}}},
        )
        for name in _string_fields(AssertionOverrides)
    },
    "overrides.assertion.audiences.1": (
        "POST",
        "/api/saml-response",
        {"user": "alice", "overrides": {"assertion": {"audiences": ["ok", "{}"]}}},
    ),
    **{
        f"overrides.assertion.attributes.0.{name}": (
            "POST",
            "/api/saml-response",
            {
                "user": "alice",
                "overrides": {
                    "assertion": {"attributes": [{"name": "n", "values": ["v"], name: "{}"}]}
                },
            },
        )
        for name in ("name", "name_format", "friendly_name", "value_type")
    },
    "overrides.assertion.attributes.0.values.1": (
        "POST",
        "/api/saml-response",
        {
            "user": "alice",
            "overrides": {"assertion": {"attributes": [{"name": "n", "values": ["v", "{}"]}]}},
        },
    ),
    **{
        f"overrides.response.{name}": (
            "POST",
            "/api/saml-response",
            {"user": "alice", "overrides": {"response": {name: "{}"}}},
        )
        for name in _string_fields(ResponseOverrides)
    },
    "groups.1": ("PUT", "/api/users/alice/groups", {"groups": ["admins", "{}"]}),
}
"""Every string a client gives the JSON API, by where the error must point."""


def _placed(template: Any, text: str) -> Any:
    if template == "{}":
        return text
    if isinstance(template, dict):
        return {key: _placed(value, text) for key, value in template.items()}
    if isinstance(template, list):
        return [_placed(value, text) for value in template]
    return template


needs_gunicorn = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None,
    reason="gunicorn is not installed (pip install gunicorn)",
)


@pytest.fixture
def gunicorn_idp(config_path: Path) -> Iterator[str]:
    """Serve the IdP with ``fedharness idp serve --workers 2``; return its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenarios.cli_idp_serve",
            "--config",
            str(config_path),
            "--port",
            "0",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert " listening on http://127.0.0.1:" in first, first
        yield first.split(" on ", 1)[1].split()[0]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


@needs_gunicorn
def test_audit_inputs_over_http_with_gunicorn_workers(gunicorn_idp: str) -> None:
    url = gunicorn_idp
    headers = {"Content-Type": "application/json"}
    surrogate = requests.put(
        f"{url}/api/users/bob/groups", data=b'{"groups":["\\ud800"]}', headers=headers, timeout=10
    )
    assert surrogate.status_code == 400
    assert "groups.0: U+D800" in surrogate.json()["error"]["message"]
    nested = requests.post(
        f"{url}/api/saml-response", data=b"[" * 100_000, headers=headers, timeout=10
    )
    assert nested.status_code == 400
    assert "too deeply" in nested.json()["error"]["message"]
    for _ in range(8):  # new connections: both workers answer some of them
        with requests.Session() as session:
            assert session.get(f"{url}/login", timeout=10).status_code == 200
            assert session.get(f"{url}/sso/aws", timeout=10).status_code == 200
            bob = session.get(f"{url}/api/users/bob", timeout=10).json()["user"]
            assert bob["groups"] == ["readers"]


def _string_paths(annotation: Any, at: str) -> Iterator[str]:
    """Yield where a string sits in values of ``annotation`` (``N`` for any list index)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from _string_paths(field.annotation, f"{at}.{name}" if at else name)
    elif annotation is str:
        yield at
    elif typing.get_origin(annotation) is list:
        yield from _string_paths(typing.get_args(annotation)[0], f"{at}.N")
    else:
        for argument in typing.get_args(annotation):
            yield from _string_paths(argument, at)


@pytest.mark.parametrize("model", [SamlResponseRequest, GroupsRequest])
def test_every_api_string_is_tried(model: type[BaseModel]) -> None:
    tried = {re.sub(r"\.\d+(?=\.|$)", ".N", where) for where in STRING_PLACES}
    assert set(_string_paths(model, "")) <= tried


@pytest.mark.parametrize(
    ("where", "method", "path", "template"),
    [(where, *place) for where, place in STRING_PLACES.items()],
    ids=STRING_PLACES.keys(),
)
@pytest.mark.parametrize(
    "text", ["\ud800", "x\x00", "\x1b[31m", "\uffff"], ids=["surrogate", "nul", "escape", "ffff"]
)
def test_every_api_string_refuses_what_xml_cannot_carry(
    client: FlaskClient, where: str, method: str, path: str, template: Any, text: str
) -> None:
    answer = send_json(client, method, path, as_json(_placed(template, text)))
    assert_refused(answer, 400, "bad_request", f"{where}: U+", "must be XML text")
    assert_still_serving(client)


@pytest.mark.parametrize("text", XML_TEXT_EDGES)
def test_unusual_xml_text_is_still_accepted(client: FlaskClient, text: str) -> None:
    groups = send_json(
        client, "PUT", "/api/users/alice/groups", as_json({"groups": ["admins", text]})
    )
    assert groups.status_code == 200, groups.get_data(as_text=True)
    assert groups.get_json()["user"]["groups"] == ["admins", text]
    issued = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json(
            {
                "user": "alice",
                "relay_state": text,
                "overrides": {"assertion": {"attributes": [{"name": "n", "values": [text]}]}},
            }
        ),
    )
    assert issued.status_code == 200, issued.get_data(as_text=True)
    assert issued.get_json()["relay_state"] == text
    login = client.get("/login")
    assert login.status_code == 200
    assert client.post("/api/reset").status_code == 200
    assert_still_serving(client)


def test_key_that_is_not_xml_text_is_named_escaped(client: FlaskClient) -> None:
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        '{"user":"alice","overrides":{"assertion":{"bad\\u0001":1}}}',
    )
    assert_refused(answer, 400, "bad_request", "overrides.assertion.bad\\u0001: Extra inputs")
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        '{"user":"alice","overrides":{"assertion":{"\\ud800":1}}}',
    )
    assert_refused(answer, 400, "bad_request", "overrides.assertion: ")
    assert_still_serving(client)


QUERIES = {
    "sso-relay-state": "/sso/aws?user=alice&RelayState=a%01b",
    "sso-relay-state-nul": "/sso/aws?RelayState=%00",
    "sso-user": "/sso/aws?user=alice%00",
    "sso-acs": "/sso/aws?acs=%1F",
    "login-sp": "/login?sp=aws%0B",
}


@pytest.mark.parametrize("path", QUERIES.values(), ids=QUERIES.keys())
def test_query_parameter_that_is_not_xml_text_is_refused(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400
    assert "bad_parameter" in answer.get_data(as_text=True)
    assert_still_serving(client)


def test_query_bytes_that_are_not_utf8_stay_percent_encoded(client: FlaskClient) -> None:
    answer = client.get("/sso/aws?user=alice&RelayState=%ED%A0%80%FF")
    assert answer.status_code == 200
    assert 'name="RelayState" value="%ED%A0%80%FF"' in answer.get_data(as_text=True)
    assert_still_serving(client)


# --- 2. deeply nested and oversized bodies --------------------------------------------------------


NESTED = {
    "saml-response-arrays": ("POST", "/api/saml-response", "[" * 100_000),
    "groups-arrays": ("PUT", "/api/users/alice/groups", "[" * 100_000),
    "groups-in-object": ("PUT", "/api/users/alice/groups", '{"groups":' + "[" * 100_000),
    "objects": ("POST", "/api/saml-response", '{"a":' * 100_000),
    "closed": ("POST", "/api/saml-response", "[" * 50_000 + "]" * 50_000),
}


@pytest.mark.parametrize(("method", "path", "raw"), NESTED.values(), ids=NESTED.keys())
def test_deeply_nested_json_is_refused(
    client: FlaskClient, method: str, path: str, raw: str
) -> None:
    answer = send_json(client, method, path, raw)
    assert_refused(answer, 400, "bad_request", "nests arrays or objects too deeply")
    assert_still_serving(client)


def test_moderately_nested_json_is_a_plain_validation_error(client: FlaskClient) -> None:
    answer = send_json(
        client, "PUT", "/api/users/alice/groups", '{"groups":' + "[" * 500 + "]" * 500 + "}"
    )
    assert_refused(answer, 400, "bad_request", "groups.0:")
    assert_still_serving(client)


OVERSIZED = {
    "saml-response": ("POST", "/api/saml-response"),
    "groups": ("PUT", "/api/users/alice/groups"),
    "reset": ("POST", "/api/reset"),
}


@pytest.mark.parametrize(("method", "path"), OVERSIZED.values(), ids=OVERSIZED.keys())
def test_oversized_json_body_is_413(client: FlaskClient, method: str, path: str) -> None:
    groups = ",".join(['"g"'] * (MAX_BODY_BYTES // 4))
    raw = f'{{"groups":[{groups}]}}'
    assert len(raw) > MAX_BODY_BYTES
    answer = send_json(client, method, path, raw)
    assert_refused(answer, 413, "request_entity_too_large")
    assert_still_serving(client)


def test_oversized_login_form_is_413(client: FlaskClient) -> None:
    answer = client.post("/login", data={"token": "x" * (MAX_BODY_BYTES + 1)})
    assert answer.status_code == 413
    assert_still_serving(client)


def test_oversized_chunked_body_is_413(client: FlaskClient) -> None:
    body = b'{"groups":["' + b"g" * MAX_BODY_BYTES + b'"]}'
    answer = client.put(
        "/api/users/alice/groups",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )  # as gunicorn sets
    assert_refused(answer, 413, "request_entity_too_large")
    assert_still_serving(client)


# --- 3. other ways to break the IdP ---------------------------------------------------------------


def test_too_many_or_too_long_groups_are_refused(client: FlaskClient) -> None:
    too_many = send_json(
        client,
        "PUT",
        "/api/users/bob/groups",
        as_json({"groups": [f"g{i}" for i in range(MAX_GROUPS + 1)]}),
    )
    assert_refused(too_many, 400, "bad_request", "groups: List should have at most")
    too_long = send_json(
        client, "PUT", "/api/users/bob/groups", as_json({"groups": ["g" * (MAX_GROUP_NAME + 1)]})
    )
    assert_refused(too_long, 400, "bad_request", "groups.0: String should have at most")
    empty = send_json(client, "PUT", "/api/users/bob/groups", as_json({"groups": [""]}))
    assert_refused(empty, 400, "bad_request", "groups.0: String should have at least")
    assert_still_serving(client)


def test_the_most_groups_allowed_still_render(client: FlaskClient) -> None:
    most = [f"g{i}-" + "x" * 200 for i in range(MAX_GROUPS)]
    for user in ("alice", "bob", "dave"):
        answer = send_json(client, "PUT", f"/api/users/{user}/groups", as_json({"groups": most}))
        assert answer.status_code == 200
    login = client.get("/login")
    assert login.status_code == 200
    assert login.get_data(as_text=True).count("g999-") == 3


def test_subject_confirmation_count_is_bounded(client: FlaskClient) -> None:
    for count in (-1, MAX_SUBJECT_CONFIRMATIONS + 1, 10**9):
        answer = send_json(
            client,
            "POST",
            "/api/saml-response",
            as_json(
                {"user": "alice", "overrides": {"assertion": {"subject_confirmation_count": count}}}
            ),
        )
        assert_refused(answer, 400, "bad_request", "subject_confirmation_count:")
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json({"user": "alice", "overrides": {"assertion": {"subject_confirmation_count": 2}}}),
    )
    assert answer.status_code == 200
    assert answer.get_json()["xml"].count("<saml:SubjectConfirmation ") == 2
    assert_still_serving(client)


NULL_REQUIRED = {
    "assertion-issue-instant": ("assertion", "issue_instant"),
    "assertion-id": ("assertion", "assertion_id"),
    "assertion-version": ("assertion", "version"),
    "assertion-subject-confirmation-count": ("assertion", "subject_confirmation_count"),
    "response-issue-instant": ("response", "issue_instant"),
    "response-id": ("response", "response_id"),
    "response-version": ("response", "version"),
}


@pytest.mark.parametrize(("part", "name"), NULL_REQUIRED.values(), ids=NULL_REQUIRED.keys())
def test_null_for_a_value_the_xml_needs_is_refused(
    client: FlaskClient, part: str, name: str
) -> None:
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json({"user": "alice", "overrides": {part: {name: None}}}),
    )
    assert_refused(answer, 400, "bad_request", f"overrides.{part}.{name}: cannot be null")
    assert_still_serving(client)


def test_null_still_omits_optional_elements(client: FlaskClient) -> None:
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json(
            {
                "user": "alice",
                "overrides": {
                    "assertion": {
                        "issuer": None,
                        "name_id": None,
                        "session_index": None,
                        "confirmation_method": None,
                        "authn_context_class": None,
                        "audiences": None,
                        "attributes": None,
                    },
                    "response": {"issuer": None, "status": None, "destination": None},
                },
            }
        ),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "<saml:Issuer" not in answer.get_json()["xml"]


OUT_OF_RANGE_TIMES = {
    "year-1-east": "0001-01-01T00:00:00+14:00",
    "year-9999-west": "9999-12-31T23:59:59-14:00",
}


@pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES.values(), ids=OUT_OF_RANGE_TIMES.keys())
@pytest.mark.parametrize(
    ("part", "name"),
    [
        ("assertion", "not_on_or_after"),
        ("assertion", "issue_instant"),
        ("response", "issue_instant"),
    ],
)
def test_time_out_of_range_in_utc_is_refused(
    client: FlaskClient, moment: str, part: str, name: str
) -> None:
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json({"user": "alice", "overrides": {part: {name: moment}}}),
    )
    assert_refused(answer, 400, "bad_request", f"overrides.{part}.{name}: the time is out of")
    assert_still_serving(client)


def test_extreme_times_that_fit_in_utc_are_issued_in_utc(client: FlaskClient) -> None:
    answer = send_json(
        client,
        "POST",
        "/api/saml-response",
        as_json(
            {
                "user": "alice",
                "role": ADMIN,
                "overrides": {
                    "assertion": {
                        "not_before": "0001-01-01T00:00:00-14:00",
                        "not_on_or_after": "9999-12-31T23:59:59+14:00",
                    }
                },
            }
        ),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    xml = answer.get_json()["xml"]
    assert 'NotBefore="0001-01-01T14:00:00.000Z"' in xml
    assert 'NotOnOrAfter="9999-12-31T09:59:59.000Z"' in xml


ODD_BODIES: dict[str, tuple[str | bytes, str]] = {
    "null": ("null", "body: Input should be a valid dictionary"),
    "empty": ("", "the body is not valid JSON"),
    "infinite-number": ("1e999999", "body: Input should be a valid dictionary"),
    "huge-integer": ("9" * 5000, "the body is not valid JSON"),
    "nan": (
        '{"user":"alice","overrides":{"assertion":{"subject_confirmation_count":NaN}}}',
        "overrides.assertion.subject_confirmation_count: Input should be a finite number",
    ),
    "not-utf8": (b'{"user":"\xff"}', "the body is not valid JSON"),
}


@pytest.mark.parametrize(("raw", "message"), ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_odd_json_bodies_are_400(client: FlaskClient, raw: str | bytes, message: str) -> None:
    answer = send_json(client, "POST", "/api/saml-response", raw)
    assert_refused(answer, 400, "bad_request", message)
    assert_still_serving(client)


def test_utf16_json_is_read_as_json(client: FlaskClient) -> None:
    answer = send_json(client, "POST", "/api/saml-response", '{"user":"alice"}'.encode("utf-16"))
    assert answer.status_code == 200
    assert answer.get_json()["user"] == "alice"


# --- fuzz ---------------------------------------------------------------------------------------
# Each fuzz test starts from a request the IdP accepts and spoils a few of its values, so that
# examples reach the XML builder, the signer and the pages, not only the first check.

FUZZ = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

xml_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["", " ", *XML_TEXT_EDGES, *NAME_ID_FORMATS, "alice", "aws", ADMIN]),
)
any_text = st.one_of(
    xml_text,
    st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=()), max_size=6),
    st.sampled_from(list(NOT_XML_TEXT.values())),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
"""Anything JSON can say, strings included that XML cannot carry."""
url_bytes = st.binary(max_size=12).map(lambda raw: quote_from_bytes(raw, safe=""))
"""Any bytes, percent-encoded for a URL or form."""
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"
)
times = st.builds(lambda moment, offset: moment.isoformat() + offset, st.datetimes(), offsets)
attribute_overrides = st.lists(
    st.fixed_dictionaries(
        {"name": xml_text, "values": st.lists(xml_text, max_size=3)},
        optional={
            "name_format": st.none() | xml_text,
            "friendly_name": st.none() | xml_text,
            "value_type": st.none() | xml_text,
        },
    ),
    max_size=3,
)


def _plausible(annotation: Any) -> st.SearchStrategy[Any]:
    """Return values of the field's type: right, wrong for SAML, or null."""
    described = repr(annotation)
    if "AttributeOverride" in described:
        values: st.SearchStrategy[Any] = attribute_overrides
    elif "datetime" in described:
        values = times
    elif "bool" in described:
        values = st.booleans()
    elif "int" in described:
        values = st.integers(-2, MAX_SUBJECT_CONFIRMATIONS + 1) | st.integers()
    elif "list" in described:
        values = st.lists(xml_text, max_size=3)
    else:
        values = xml_text
    return st.none() | values


OVERRIDABLE = {
    part: {name: _plausible(field.annotation) for name, field in model.model_fields.items()}
    for part, model in (("assertion", AssertionOverrides), ("response", ResponseOverrides))
}


@st.composite
def saml_response_bodies(draw: st.DrawFn) -> Any:
    """Return a body for POST /api/saml-response: plausible overrides, then maybe a wild value."""
    body: dict[str, Any] = {
        "user": draw(st.sampled_from(["alice", "bob"])),
        "sp": draw(st.sampled_from(["aws", "plain-sp", "signed-sp"])),
        "overrides": {
            part: {
                name: draw(fields[name])
                for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
            }
            for part, fields in OVERRIDABLE.items()
        },
    }
    for name in draw(
        st.lists(st.sampled_from(["role", "relay_state", "in_response_to"]), unique=True)
    ):
        body[name] = draw(st.sampled_from([ADMIN]) | xml_text)
    if draw(st.booleans()):  # one value anything JSON can say
        place, key = draw(
            st.sampled_from(
                [
                    (body, "user"),
                    (body, "sp"),
                    (body, "acs"),
                    (body, "overrides"),
                    *(
                        (body["overrides"][part], name)
                        for part, fields in OVERRIDABLE.items()
                        for name in fields
                    ),
                ]
            )
        )
        place[key] = draw(json_values)
    return body


group_bodies = st.one_of(
    st.fixed_dictionaries({"groups": st.lists(xml_text | any_text, max_size=4)}), json_values
)


def _serves_after(client: FlaskClient, answer: TestResponse) -> None:
    assert answer.status_code < 500, answer.get_data(as_text=True)
    assert client.get("/login").status_code == 200
    assert client.get("/sso/aws?user=alice").status_code == 200
    client.post("/api/reset")


@FUZZ
@given(body=saml_response_bodies())
def test_fuzz_saml_response(client: FlaskClient, body: Any) -> None:
    _serves_after(client, send_json(client, "POST", "/api/saml-response", as_json(body)))


@FUZZ
@given(user=st.sampled_from(["alice", "bob"]) | url_bytes, body=group_bodies)
def test_fuzz_groups(client: FlaskClient, user: str, body: Any) -> None:
    answer = send_json(client, "PUT", f"/api/users/{user}/groups", as_json(body))
    if answer.status_code == 200:
        for path in (
            "/login",
            "/sso/aws",
            "/sso/aws?user=alice",
            "/sso/aws?user=alice&preview=1",
            "/api/users",
            "/api/users/alice",
            "/api/users/bob",
        ):
            assert client.get(path).status_code == 200, path
        assert (
            send_json(client, "POST", "/api/saml-response", '{"user":"alice"}').status_code == 200
        )
    _serves_after(client, answer)


PAGES = [
    "/sso/{}",
    "/login",
    "/metadata",
    "/certificate",
    "/sso",
    "/slo",
    "/logout",
    "/",
    "/api/users/{}",
    "/api/health",
]
PARAMETERS = [
    "user",
    "acs",
    "RelayState",
    "preview",
    "sp",
    "SAMLRequest",
    "SAMLResponse",
    "SigAlg",
    "Signature",
]


@FUZZ
@given(
    page=st.sampled_from(PAGES),
    name=st.sampled_from(["aws", "plain-sp", "nope"]) | url_bytes,
    query=st.lists(
        st.tuples(
            st.sampled_from(PARAMETERS) | url_bytes,
            st.sampled_from(["alice", PLAIN_SP_ACS, "1"]) | url_bytes,
        ),
        max_size=4,
    ),
    accept=st.sampled_from(["text/html", "application/json", "*/*;q=0", "json;q=x"])
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
def test_fuzz_pages(
    client: FlaskClient, page: str, name: str, query: list[tuple[str, str]], accept: str
) -> None:
    path = page.format(name) + "?" + "&".join(f"{key}={value}" for key, value in query)
    _serves_after(client, client.get(path, headers={"Accept": accept}))


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["token", "user", "typed_user", "password", "preview", *PARAMETERS])
        | url_bytes,
        url_bytes,
        max_size=4,
    ),
    page=st.sampled_from(["/login", "/sso", "/slo", "/logout"]),
)
def test_fuzz_forms(client: FlaskClient, page: str, form: dict[str, str]) -> None:
    raw = "&".join(f"{key}={value}" for key, value in form.items())
    _serves_after(
        client, client.post(page, data=raw, content_type="application/x-www-form-urlencoded")
    )


@st.composite
def authn_requests(draw: st.DrawFn) -> bytes:
    """Return an AuthnRequest from the plain SP with a few of its values spoilt."""
    now = dt.datetime.now(dt.UTC)
    right: dict[str, st.SearchStrategy[str | None]] = {
        "ID": st.just(new_id()),
        "Version": st.just("2.0"),
        "IssueInstant": st.just(saml_time(now)),
        "Destination": st.just("http://localhost/sso"),
        "AssertionConsumerServiceURL": st.just(PLAIN_SP_ACS),
        "AssertionConsumerServiceIndex": st.none(),
        "ProtocolBinding": st.just(Binding.HTTP_POST.value),
        "ForceAuthn": st.sampled_from([None, "true", "false"]),
        "IsPassive": st.sampled_from([None, "true", "false"]),
        "Issuer": st.just(PLAIN_SP_ENTITY_ID),
        "Format": st.sampled_from([None, *NAME_ID_FORMATS]),
        "SPNameQualifier": st.none() | xml_text,
        "AllowCreate": st.sampled_from([None, "true", "false"]),
    }
    wrong: st.SearchStrategy[str | None] = (
        st.none()
        | xml_text
        | st.builds(
            lambda seconds: saml_time(now + dt.timedelta(seconds=seconds)),
            st.integers(-(10**6), 10**6),
        )
        | st.integers(-2, 3).map(str)
    )
    spoilt = draw(st.lists(st.sampled_from(sorted(right)), max_size=3, unique=True))
    values = {name: draw(wrong if name in spoilt else right[name]) for name in right}
    root = etree.Element(qname(NS.SAMLP, "AuthnRequest"), nsmap={"samlp": NS.SAMLP})
    for name in (
        "ID",
        "Version",
        "IssueInstant",
        "Destination",
        "AssertionConsumerServiceURL",
        "AssertionConsumerServiceIndex",
        "ProtocolBinding",
        "ForceAuthn",
        "IsPassive",
    ):
        if values[name] is not None:
            root.set(name, str(values[name]))
    if values["Issuer"] is not None:
        etree.SubElement(root, qname(NS.SAML, "Issuer")).text = values["Issuer"]
    policy = {
        name: values[name]
        for name in ("Format", "SPNameQualifier", "AllowCreate")
        if values[name] is not None
    }
    if policy:
        etree.SubElement(root, qname(NS.SAMLP, "NameIDPolicy"), policy)
    return etree.tostring(root)


@FUZZ
@given(
    xml=authn_requests(),
    binding=st.sampled_from(["redirect", "post"]),
    relay_state=st.none() | url_bytes,
    user=st.sampled_from(["alice", "bob"]) | url_bytes,
    preview=st.booleans(),
)
def test_fuzz_sp_initiated_sign_in(
    client: FlaskClient, xml: bytes, binding: str, relay_state: str | None, user: str, preview: bool
) -> None:
    browser = client.application.test_client()  # its own cookies: no IdP session yet
    relay = "" if relay_state is None else f"&RelayState={relay_state}"
    if binding == "redirect":
        deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        encoded = quote(base64.b64encode(deflater.compress(xml) + deflater.flush()), safe="")
        page = browser.get(f"/sso?SAMLRequest={encoded}{relay}")
    else:
        encoded = quote(base64.b64encode(xml), safe="")
        page = browser.post(
            "/sso",
            data=f"SAMLRequest={encoded}{relay}",
            content_type="application/x-www-form-urlencoded",
        )
    assert page.status_code < 500, page.get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True))
    if token is not None:
        answer = browser.post(
            "/login",
            content_type="application/x-www-form-urlencoded",
            data=f"token={token.group(1)}&user={user}&preview={int(preview)}",
        )
        assert answer.status_code < 500, answer.get_data(as_text=True)
        if binding == "redirect":  # again, now with an IdP session
            again = browser.get(f"/sso?SAMLRequest={encoded}{relay}")
            assert again.status_code < 500, again.get_data(as_text=True)
    _serves_after(client, browser.post("/logout"))
