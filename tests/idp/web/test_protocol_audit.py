"""The web IdP audit's findings, each replayed with the audit's own input (/tmp/audit-web).

1 single logout checks NameID/SessionIndex and propagates; 2 web SSO sends the ADFS claim
rules' NameID; 3 a foreign SPNameQualifier is refused; 4 signed requests need a Destination,
compared with the configured URL only; 5 replayed AuthnRequests and login forms are refused;
6 transient NameIDs are fresh; 7 LogoutResponses go to the metadata's ResponseLocation.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import zlib
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from idp.app import WebConfig, create_app
from idp.provider import IdentityProvider
from idp.saml.builder import new_id, saml_time
from idp.saml.constants import NSMAP
from idp.saml.keys import KeyPair
from idp.saml.logout import build_logout_response, redirect_url
from idp.saml.signing import sign_element
from tests.conftest import CERTS, ROOT
from tests.idp.web.messages import b64, deflate

PLAIN = "http://plain.test/metadata"
SIGNED = "http://signed.test/metadata"
MD = "http://md.test/metadata"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
ADFS_EXAMPLE = ROOT / "scenarios" / "examples" / "adfs-aws-blog.yaml"


def audit_config(folder: Path, *, plain_format: str = "") -> Path:
    """Write the audit's idp.yaml (plus the 'md' SP of idp-md.yaml) into ``folder``."""
    cert = "".join(
        line
        for line in (CERTS / "sample-sp.crt").read_text().splitlines()
        if "CERTIFICATE" not in line
    )
    (folder / "md-sp.xml").write_text(f"""\
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{MD}">
 <md:SPSSODescriptor AuthnRequestsSigned="false"
     protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}\
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
      Location="https://md.test/slo/request" ResponseLocation="https://md.test/slo/response"/>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
      Location="https://md.test/acs" index="0"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>
""")
    sp_cert = CERTS / "sample-sp.crt"
    path = folder / "idp.yaml"
    path.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: ['arn:aws:iam::111111111111:role/Admin']}}
  service_providers:
    aws: {{}}
    plain: {{acs: 'https://plain.test/acs', audience: ['{PLAIN}']{plain_format}}}
    signed: {{acs: 'https://signed.test/acs', audience: ['{SIGNED}']}}
    md: {{acs: 'https://md.test/acs', audience: ['{MD}']}}
  web:
    service_providers:
      plain: {{entity_id: '{PLAIN}', signing_certs: ['{sp_cert}'],
               want_authn_requests_signed: false, slo_url: 'https://plain.test/slo'}}
      signed: {{entity_id: '{SIGNED}', signing_certs: ['{sp_cert}'],
                want_authn_requests_signed: true, slo_url: 'https://signed.test/slo'}}
      md: {{metadata: md-sp.xml}}
      aws:
        relay_state: https://console.aws.amazon.com/
directory:
  users:
    alice: {{email: alice@corp.example, groups: [admins]}}
  groups:
    admins: {{member_of: []}}
""")
    return path


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    flask_app = create_app(WebConfig.from_file(audit_config(tmp_path)))
    flask_app.testing = True
    return flask_app


def base_url(app: Flask) -> str:
    from idp.views.common import EXTENSION

    return str(app.extensions[EXTENSION].provider().settings.base_url).rstrip("/")


def now() -> str:
    return saml_time(dt.datetime.now(dt.UTC))


def authn_xml(
    issuer: str = PLAIN, *, dest: str | None = None, inner: str = "", id_: str = ""
) -> bytes:
    destination = f' Destination="{dest}"' if dest else ""
    return (
        f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id_ or new_id()}" '
        f'Version="2.0" IssueInstant="{now()}"{destination}>'
        f"<saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>"
    ).encode()


def logout_xml(
    issuer: str = PLAIN,
    name_id: str = "nobody",
    session_index: str | None = None,
    dest: str | None = None,
) -> bytes:
    index = f"<samlp:SessionIndex>{session_index}</samlp:SessionIndex>" if session_index else ""
    destination = f' Destination="{dest}"' if dest else ""
    return (
        f'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{new_id()}" Version="2.0" '
        f'IssueInstant="{now()}"{destination}><saml:Issuer>{issuer}</saml:Issuer>'
        f"<saml:NameID>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"
    ).encode()


def query(xml: bytes, relay: str | None = None) -> str:
    text = "SAMLRequest=" + quote(b64(deflate(xml)), safe="")
    return text + ("&RelayState=" + quote(relay, safe="") if relay is not None else "")


def signed_url(path: str, xml: bytes, key: KeyPair, parameter: str = "SAMLRequest") -> str:
    return redirect_url(path, parameter, etree.fromstring(xml), key=key)


def posted_response(page: TestResponse) -> tuple[str, etree._Element]:
    document = etree.HTML(page.data)
    action = document.xpath("//form/@action")
    value = document.xpath("//input[@name='SAMLResponse']/@value")
    assert action and value, page.text[:1000]
    return str(action[0]), etree.fromstring(base64.b64decode(value[0]))


def redirected(page: TestResponse) -> tuple[str, str, etree._Element, dict[str, list[str]]]:
    """Return (URL without query, parameter, message, query) of a Redirect-binding answer."""
    assert page.status_code == 302, page.text[:1000]
    location = page.headers["Location"]
    fields = parse_qs(urlsplit(location).query)
    parameter = "SAMLResponse" if "SAMLResponse" in fields else "SAMLRequest"
    xml = zlib.decompress(base64.b64decode(fields[parameter][0]), -15)
    return location.split("?")[0], parameter, etree.fromstring(xml), fields


def status_codes(message: etree._Element) -> list[str]:
    return [str(v) for v in message.xpath("//samlp:StatusCode/@Value", namespaces=NSMAP)]


def name_id_of(response: etree._Element) -> etree._Element:
    found = response.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert found is not None
    return found


def session_index_of(response: etree._Element) -> str:
    return str(response.xpath("//saml:AuthnStatement/@SessionIndex", namespaces=NSMAP)[0])


def signed_in(client: FlaskClient) -> bool:
    return "Signed in as" in client.get("/logout").text


def signed_in_client(app: Flask) -> tuple[FlaskClient, str, str]:
    """The audit's slo_checks: alice at aws (IdP-initiated), then plain (SP-initiated)."""
    client = app.test_client()
    assert client.get("/sso/aws?user=alice").status_code == 200
    _, response = posted_response(client.get("/sso?" + query(authn_xml(issuer=PLAIN))))
    return client, str(name_id_of(response).text), session_index_of(response)


# 1. Single logout ----------------------------------------------------------------------------


def test_logout_request_naming_somebody_else_is_refused_and_keeps_the_session(
    app: Flask,
) -> None:
    client, _, _ = signed_in_client(app)
    xml = logout_xml(name_id="somebody-else", session_index="_bogus")
    where, parameter, answer, _ = redirected(client.get("/slo?" + query(xml)))
    assert (where, parameter) == ("https://plain.test/slo", "SAMLResponse")
    assert status_codes(answer) == [STATUS + "Requester", STATUS + "UnknownPrincipal"]
    assert answer.get("InResponseTo") == etree.fromstring(xml).get("ID")
    assert signed_in(client)


def test_logout_request_with_a_bogus_session_index_is_refused(app: Flask) -> None:
    client, name_id, _ = signed_in_client(app)
    xml = logout_xml(name_id=name_id, session_index="_bogus")
    _, _, answer, _ = redirected(client.get("/slo?" + query(xml)))
    assert status_codes(answer) == [STATUS + "Requester", STATUS + "UnknownPrincipal"]
    assert signed_in(client)


def test_logout_request_without_a_session_is_refused(app: Flask) -> None:
    _, _, answer, _ = redirected(app.test_client().get("/slo?" + query(logout_xml())))
    assert status_codes(answer) == [STATUS + "Requester", STATUS + "UnknownPrincipal"]


def test_logout_is_propagated_to_the_other_participants_before_the_answer(
    app: Flask, sp_key: KeyPair
) -> None:
    """slo_propagation.py: alice at plain and signed; plain asks to log out."""
    client = app.test_client()
    client.get("/sso/plain?user=alice")
    url = signed_url("/sso", authn_xml(issuer=SIGNED, dest=f"{base_url(app)}/sso"), sp_key)
    _, response = posted_response(client.get(url))
    signed_index = session_index_of(response)
    initiator = logout_xml(issuer=PLAIN, name_id="alice")
    where, parameter, request, fields = redirected(
        client.get("/slo?" + query(initiator, relay="back-to-plain"))
    )
    assert (where, parameter) == ("https://signed.test/slo", "SAMLRequest")
    assert request.xpath("//saml:NameID/text()", namespaces=NSMAP) == ["alice"]
    assert request.xpath("//samlp:SessionIndex/text()", namespaces=NSMAP) == [signed_index]
    assert not signed_in(client)
    reply = build_logout_response(
        issuer=SIGNED,
        in_response_to=request.get("ID"),
        now=dt.datetime.now(dt.UTC),
        destination=f"{base_url(app)}/slo",
    )
    url = redirect_url("/slo", "SAMLResponse", reply, key=sp_key)
    where, parameter, answer, fields = redirected(client.get(url))
    assert (where, parameter) == ("https://plain.test/slo", "SAMLResponse")
    assert answer.get("InResponseTo") == etree.fromstring(initiator).get("ID")
    assert status_codes(answer) == [STATUS + "Success"]
    assert fields["RelayState"] == ["back-to-plain"]
    location = client.get(url).headers.get("Location", "")  # a replayed reply starts nothing
    assert "plain.test" not in location


def test_logout_answers_partial_logout_when_a_participant_cannot_be_reached(
    app: Flask,
) -> None:
    """slo_checks.py: plain's legitimate LogoutRequest while alice is also at aws (no SLO)."""
    client, name_id, _ = signed_in_client(app)
    where, parameter, answer, _ = redirected(
        client.get("/slo?" + query(logout_xml(name_id=name_id)))
    )
    assert (where, parameter) == ("https://plain.test/slo", "SAMLResponse")
    assert status_codes(answer) == [STATUS + "Responder", STATUS + "PartialLogout"]
    assert "aws" in "".join(answer.xpath("//samlp:StatusMessage/text()", namespaces=NSMAP))
    assert not signed_in(client)


def test_logout_answers_partial_logout_when_a_participant_refuses(
    app: Flask, sp_key: KeyPair
) -> None:
    client = app.test_client()
    client.get("/sso/plain?user=alice")
    client.get(signed_url("/sso", authn_xml(issuer=SIGNED, dest=f"{base_url(app)}/sso"), sp_key))
    _, _, request, _ = redirected(client.get("/slo?" + query(logout_xml(name_id="alice"))))
    reply = build_logout_response(
        issuer=SIGNED,
        in_response_to=request.get("ID"),
        now=dt.datetime.now(dt.UTC),
        destination=f"{base_url(app)}/slo",
        status=STATUS + "Responder",
    )
    _, _, answer, _ = redirected(
        client.get(redirect_url("/slo", "SAMLResponse", reply, key=sp_key))
    )
    assert status_codes(answer) == [STATUS + "Responder", STATUS + "PartialLogout"]


# 2. The ADFS claim rules' NameID on every path -----------------------------------------------


def test_web_sign_in_sends_the_name_id_the_adfs_claim_rules_issue() -> None:
    """adfs_nameid.py: /sso/aws?user=ines sent 'ines'; `idp assertion` and the API CORP\\ines."""
    flask_app = create_app(WebConfig.from_file(ADFS_EXAMPLE))
    flask_app.testing = True
    _, web = posted_response(flask_app.test_client().get("/sso/aws?user=ines"))
    issued = IdentityProvider.from_file(ADFS_EXAMPLE).issue("ines")
    cli = name_id_of(etree.fromstring(issued.xml))
    api = flask_app.test_client().post("/api/saml-response", json={"user": "ines"})
    from_api = name_id_of(etree.fromstring(api.get_json()["xml"].encode()))
    assert (name_id_of(web).text, name_id_of(web).get("Format")) == ("CORP\\ines", PERSISTENT)
    assert (cli.text, cli.get("Format")) == ("CORP\\ines", PERSISTENT)
    assert (from_api.text, from_api.get("Format")) == ("CORP\\ines", PERSISTENT)


# 3. SPNameQualifier --------------------------------------------------------------------------


def test_foreign_sp_name_qualifier_is_refused_with_invalid_name_id_policy(app: Flask) -> None:
    """sso_checks.py: NameIDPolicy SPNameQualifier="arn:aws:evil" was signed into the NameID."""
    client = app.test_client()
    client.get("/sso/aws?user=alice")
    policy = f'<samlp:NameIDPolicy Format="{PERSISTENT}" SPNameQualifier="arn:aws:evil"/>'
    _, response = posted_response(client.get("/sso?" + query(authn_xml(inner=policy))))
    assert status_codes(response) == [STATUS + "Requester", STATUS + "InvalidNameIDPolicy"]
    assert response.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}Assertion") is None


def test_own_entity_id_as_sp_name_qualifier_is_honoured(app: Flask) -> None:
    client = app.test_client()
    client.get("/sso/aws?user=alice")
    policy = f'<samlp:NameIDPolicy Format="{PERSISTENT}" SPNameQualifier="{PLAIN}"/>'
    _, response = posted_response(client.get("/sso?" + query(authn_xml(inner=policy))))
    assert status_codes(response) == [STATUS + "Success"]
    assert name_id_of(response).get("SPNameQualifier") == PLAIN


# 4. Destination ------------------------------------------------------------------------------


def test_signed_redirect_request_without_destination_is_refused(
    app: Flask, sp_key: KeyPair
) -> None:
    """misc_checks.py: a signed Redirect AuthnRequest without Destination was accepted."""
    page = app.test_client().get(signed_url("/sso", authn_xml(issuer=SIGNED), sp_key))
    assert page.status_code == 400
    assert "wrong_destination" in page.text


def test_signed_post_request_without_destination_is_refused(app: Flask, sp_key: KeyPair) -> None:
    element = etree.fromstring(authn_xml(issuer=SIGNED))
    sign_element(element, sp_key)
    page = app.test_client().post("/sso", data={"SAMLRequest": b64(etree.tostring(element))})
    assert page.status_code == 400
    assert "wrong_destination" in page.text


def test_destination_is_compared_with_the_configured_url_not_the_host_header(
    tmp_path: Path, sp_key: KeyPair
) -> None:
    """misc_checks.py: Destination http://other-idp.example/sso with Host: other-idp.example."""
    config = dataclasses.replace(WebConfig.from_file(audit_config(tmp_path)), any_host=True)
    flask_app = create_app(config)
    flask_app.testing = True
    xml = authn_xml(issuer=SIGNED, dest="http://other-idp.example/sso")
    page = flask_app.test_client().get(
        signed_url("/sso", xml, sp_key), headers={"Host": "other-idp.example"}
    )
    assert page.status_code == 400
    assert "wrong_destination" in page.text
    good = authn_xml(issuer=SIGNED, dest=f"{base_url(flask_app)}/sso")
    assert flask_app.test_client().get(signed_url("/sso", good, sp_key)).status_code == 200


# 5. Replays ----------------------------------------------------------------------------------


def test_replayed_authn_request_is_refused(app: Flask) -> None:
    xml = authn_xml(id_="_replayed")
    assert app.test_client().get("/sso?" + query(xml)).status_code == 200
    again = app.test_client().get("/sso?" + query(xml))
    assert again.status_code == 400
    assert "replayed_request" in again.text


def login_token(page: TestResponse) -> str:
    found = etree.HTML(page.data).xpath("//input[@name='token']/@value")
    assert found, page.text[:1000]
    return str(found[0])


def test_login_token_from_another_browser_is_refused(app: Flask) -> None:
    """xss_checks.py: one token, two sign-ins, each in a fresh browser."""
    token = login_token(app.test_client().get("/sso?" + query(authn_xml(id_="_tok1"))))
    for _ in range(2):
        page = app.test_client().post(
            "/login", data={"token": token, "user": "alice", "preview": "0"}
        )
        assert page.status_code == 400
        assert "login_expired" in page.text


def test_login_token_is_single_use(app: Flask) -> None:
    client = app.test_client()
    token = login_token(client.get("/sso?" + query(authn_xml())))
    cookie = client.get_cookie("fedharness_idp")
    assert cookie is not None
    form = {"token": token, "user": "alice", "preview": "0"}
    _, response = posted_response(client.post("/login", data=form))
    assert status_codes(response) == [STATUS + "Success"]
    assert client.post("/login", data=form).status_code == 400
    client.set_cookie("fedharness_idp", cookie.value)  # the session as it was before the login
    assert client.post("/login", data=form).status_code == 400


# 6. Transient NameIDs ------------------------------------------------------------------------


def test_transient_default_format_gets_a_fresh_value_each_time(tmp_path: Path) -> None:
    """transient_default.py: 'plain' defaults to transient; alice got NameID 'alice' twice."""
    path = audit_config(tmp_path, plain_format=", name_id_format: transient")
    flask_app = create_app(WebConfig.from_file(path))
    flask_app.testing = True
    values = []
    for _ in range(2):
        _, response = posted_response(flask_app.test_client().get("/sso/plain?user=alice"))
        values.append((name_id_of(response).text, name_id_of(response).get("Format")))
    for _ in range(2):
        client = flask_app.test_client()
        client.get("/sso/aws?user=alice")
        policy = f'<samlp:NameIDPolicy Format="{TRANSIENT}"/>'
        _, response = posted_response(client.get("/sso?" + query(authn_xml(inner=policy))))
        values.append((name_id_of(response).text, name_id_of(response).get("Format")))
    assert {f for _, f in values} == {TRANSIENT}
    assert len({v for v, _ in values}) == 4
    assert "alice" not in {v for v, _ in values}


# 7. ResponseLocation -------------------------------------------------------------------------


def test_logout_response_goes_to_the_response_location(app: Flask) -> None:
    """slo_response_location.py: the LogoutResponse went to Location, not ResponseLocation."""
    client = app.test_client()
    client.get("/sso/md?user=alice")
    page = client.get("/slo?" + query(logout_xml(issuer=MD, name_id="alice")))
    where, parameter, answer, _ = redirected(page)
    assert (where, parameter) == ("https://md.test/slo/response", "SAMLResponse")
    assert answer.get("Destination") == "https://md.test/slo/response"
    assert status_codes(answer) == [STATUS + "Success"]
