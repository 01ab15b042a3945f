"""Single logout with an SP that answers on HTTP-POST, through the Flask test client."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from lxml import etree

from idp.app import WebConfig, create_app
from idp.saml.authn_request import Binding, ReceivedMessage, verify_signature
from idp.saml.constants import NSMAP
from idp.saml.keys import KeyPair
from idp.saml.logout import build_logout_request, build_logout_response, new_logout_request
from idp.saml.signing import sign_element
from tests.conftest import CERTS

PARTNER = "https://partner.example/metadata"
PARTNER_SLO = "https://partner.example/slo"


def client_for(tmp_path: Path, *, signed: bool) -> FlaskClient:
    path = tmp_path / "idp.yaml"
    path.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  base_url: http://localhost
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  service_providers:
    partner: {{acs: 'https://partner.example/acs', audience: ['{PARTNER}']}}
  web:
    service_providers:
      partner:
        entity_id: {PARTNER}
        signing_certs: [{CERTS / "sample-sp.crt"}]
        want_authn_requests_signed: {str(signed).lower()}
        slo_url: {PARTNER_SLO}
        slo_binding: post
directory:
  users:
    alice: {{email: alice@corp.example}}
""")
    return create_app(WebConfig.from_file(path)).test_client()


def logout_request(
    *,
    issuer: str = PARTNER,
    key: KeyPair | None,
    issue_instant: dt.datetime | None = None,
    session_index: str | None = None,
) -> dict[str, str]:
    outgoing = new_logout_request(
        issuer=issuer,
        destination="http://localhost/slo",
        name_id="alice",
        name_id_format=None,
        session_index=session_index,
        sp_name_qualifier=None,
        now=issue_instant or dt.datetime.now(dt.UTC),
    )
    element = build_logout_request(outgoing)
    if key is not None:
        sign_element(element, key)
    return {
        "SAMLRequest": base64.b64encode(etree.tostring(element)).decode(),
        "RelayState": "after-logout",
    }


def posted(page: bytes, name: str) -> tuple[str, etree._Element]:
    document = etree.HTML(page)
    action = document.xpath("//form/@action")[0]
    value = document.xpath(f"//input[@name='{name}']/@value")[0]
    return str(action), etree.fromstring(base64.b64decode(value))


def test_post_logout_request_is_answered_with_a_signed_post_response(
    tmp_path: Path, sp_key: KeyPair, idp_key: KeyPair
) -> None:
    client = client_for(tmp_path, signed=True)
    page = client.get("/sso/partner?user=alice")
    assertion = etree.fromstring(
        base64.b64decode(etree.HTML(page.data).xpath("//input[@name='SAMLResponse']/@value")[0])
    )
    (session_index,) = assertion.xpath("//saml:AuthnStatement/@SessionIndex", namespaces=NSMAP)
    answer = client.post("/slo", data=logout_request(key=sp_key, session_index=session_index))
    assert answer.status_code == 200, answer.text
    action, response = posted(answer.data, "SAMLResponse")
    assert action == PARTNER_SLO
    assert response.get("Destination") == PARTNER_SLO
    assert response.xpath("//samlp:StatusCode/@Value", namespaces=NSMAP) == [
        "urn:oasis:names:tc:SAML:2.0:status:Success"
    ]
    assert 'value="after-logout"' in answer.text
    message = ReceivedMessage(response, Binding.POST, "SAMLResponse", None)
    verify_signature(message, {}, [idp_key.cert_pem])
    assert "Nobody is signed in" in client.get("/logout").text


@pytest.mark.parametrize(
    ("signed", "build", "status", "text"),
    [
        (True, lambda k: logout_request(key=None), 403, "this LogoutRequest is unsigned"),
        (
            False,
            lambda k: logout_request(key=None, issuer="https://stranger"),
            403,
            "no registered service provider",
        ),
        (
            False,
            lambda k: logout_request(
                key=None, issue_instant=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
            ),
            400,
            "has expired",
        ),
    ],
    ids=["unsigned", "unknown-sp", "expired"],
)
def test_bad_logout_request_is_refused(
    tmp_path: Path, sp_key: KeyPair, signed: bool, build: object, status: int, text: str
) -> None:
    client = client_for(tmp_path, signed=signed)
    answer = client.post("/slo", data=build(sp_key))  # type: ignore[operator]
    assert answer.status_code == status
    assert text in answer.text


def test_idp_initiated_logout_posts_a_logout_request_then_ends(
    tmp_path: Path, idp_key: KeyPair
) -> None:
    client = client_for(tmp_path, signed=False)
    page = client.get("/sso/partner?user=alice")
    assertion = etree.fromstring(
        base64.b64decode(etree.HTML(page.data).xpath("//input[@name='SAMLResponse']/@value")[0])
    )
    session_index = assertion.xpath("//saml:AuthnStatement/@SessionIndex", namespaces=NSMAP)
    answer = client.post("/logout")
    action, request = posted(answer.data, "SAMLRequest")
    assert action == PARTNER_SLO
    assert request.xpath("//saml:NameID/text()", namespaces=NSMAP) == ["alice"]
    assert request.xpath("//samlp:SessionIndex/text()", namespaces=NSMAP) == session_index
    verify_signature(
        ReceivedMessage(request, Binding.POST, "SAMLRequest", None), {}, [idp_key.cert_pem]
    )
    reply = build_logout_response(
        issuer=PARTNER,
        in_response_to=request.get("ID"),
        now=dt.datetime.now(dt.UTC),
        destination=None,
    )
    done = client.post(
        "/slo", data={"SAMLResponse": base64.b64encode(etree.tostring(reply)).decode()}
    )
    assert done.status_code == 200
    assert "partner: signed out" in done.text
