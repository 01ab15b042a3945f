"""Pages a browser sees: metadata, IdP-initiated sign-in, login picker, preview, SAML errors."""

from __future__ import annotations

import base64
import re

import requests
from lxml import etree

from idp.app import RunningIdp
from idp.saml.constants import AWS_SIGNIN_URL, NSMAP
from tests.idp.web.conftest import ADMIN, Browser, form_of, hidden_value
from tests.idp.web.messages import authn_request, redirect_query

METADATA_TYPE = "application/samlmetadata+xml"


def test_metadata_is_served_with_its_content_type(idp_web: RunningIdp) -> None:
    answer = requests.get(f"{idp_web.url}/metadata", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith(METADATA_TYPE)
    root = etree.fromstring(answer.content)
    assert root.get("entityID") == "https://idp.test/saml"
    locations = root.xpath("//md:SingleSignOnService/@Location", namespaces=NSMAP)
    assert locations == [f"{idp_web.url}/sso", f"{idp_web.url}/sso"]


def test_no_page_serves_a_private_key(idp_web: RunningIdp) -> None:
    paths = [
        "/metadata",
        "/certificate",
        "/login",
        "/sso/aws?user=alice",
        "/api/users",
        "/api/users/alice",
        "/static/style.css",
        "/static/autosubmit.js",
        "/logout",
    ]
    for path in paths:
        answer = requests.get(f"{idp_web.url}{path}", timeout=10)
        assert answer.status_code == 200, path
        assert "PRIVATE KEY" not in answer.text, path
    assert requests.get(f"{idp_web.url}/certificate", timeout=10).text.startswith(
        "-----BEGIN CERTIFICATE-----"
    )
    for probe in (
        "/static/../../certs/sample-idp.key",
        "/static/%2e%2e/app.py",
        "/templates/login.html",
    ):
        assert requests.get(f"{idp_web.url}{probe}", timeout=10).status_code == 404, probe


def test_idp_initiated_aws_sign_in_auto_posts(idp_web: RunningIdp) -> None:
    page = requests.get(f"{idp_web.url}/sso/aws", params={"user": "alice"}, timeout=10)
    assert page.status_code == 200
    form = form_of(page)
    assert form.get("action") == AWS_SIGNIN_URL and form.get("method") == "post"
    assert form.xpath(".//button[@type='submit']"), "usable without JavaScript"
    assert 'src="/static/autosubmit.js"' in page.text
    assert hidden_value(page, "RelayState") == "https://console.aws.amazon.com/"
    xml = base64.b64decode(hidden_value(page, "SAMLResponse") or "")
    assert f"{ADMIN},".encode() in xml
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_idp_initiated_relay_state_is_passed_untouched(idp_web: RunningIdp) -> None:
    relay = "https://console.aws.amazon.com/s3/?region=eu-west-1&x=<y>"
    page = requests.get(
        f"{idp_web.url}/sso/aws", params={"user": "alice", "RelayState": relay}, timeout=10
    )
    assert hidden_value(page, "RelayState") == relay


def test_user_with_password_gets_the_login_page(idp_web: RunningIdp) -> None:
    page = requests.get(f"{idp_web.url}/sso/aws", params={"user": "bob"}, timeout=10)
    assert page.status_code == 200
    assert "bob has a password" in page.text and 'value="bob"' in page.text


def test_login_page_lists_users_with_their_groups(idp_web: RunningIdp) -> None:
    page = requests.get(f"{idp_web.url}/login", timeout=10)
    assert page.status_code == 200
    for name in ("alice", "bob", "dave"):
        assert f'name="user" value="{name}"' in page.text
    assert re.search(r'<span class="group">platform</span>', page.text)
    assert re.search(r'<span class="group inherited" title="inherited">admins</span>', page.text)
    assert "<script" not in page.text, "the login page needs no JavaScript"
    assert "plain-sp" in page.text and "signed-sp" in page.text


def test_preview_shows_pretty_xml_with_aws_attributes_highlighted(
    browser: Browser, idp_web: RunningIdp
) -> None:
    login = browser.get(f"{idp_web.url}/login")
    preview = browser.submit(login, button=("user", "alice"))
    assert preview.status_code == 200
    marked = re.findall(r'<mark class="aws">([^<]*)</mark>', preview.text)
    assert any("Attributes/Role" in line for line in marked)
    assert any(ADMIN in line for line in marked)
    assert not any("Audience" in line for line in marked)
    assert "\n  &lt;saml:Issuer&gt;https://idp.test/saml" in preview.text, "pretty-printed"
    form = form_of(preview, "saml-post")
    assert form.get("action") == AWS_SIGNIN_URL
    assert form.xpath(".//button[@type='submit']")


def test_preview_can_be_skipped(browser: Browser, idp_web: RunningIdp) -> None:
    login = browser.get(f"{idp_web.url}/login")
    page = browser.submit(login, button=("user", "alice"), values={"preview": "0"})
    assert "autosubmit.js" in page.text and "Decoded XML" not in page.text


def _status_codes(page: requests.Response) -> list[str]:
    xml = base64.b64decode(hidden_value(page, "SAMLResponse") or "")
    return [
        str(v)
        for v in etree.fromstring(xml).xpath(  # type: ignore[union-attr]
            "//samlp:StatusCode/@Value", namespaces=NSMAP
        )
    ]


def test_is_passive_without_session_answers_no_passive(idp_web: RunningIdp) -> None:
    page = requests.get(
        f"{idp_web.url}/sso?{redirect_query(authn_request(is_passive=True))}", timeout=10
    )
    assert page.status_code == 200
    assert _status_codes(page) == [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    ]


def test_unsatisfiable_name_id_policy_answers_invalid_name_id_policy(
    browser: Browser, idp_web: RunningIdp
) -> None:
    email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    login = browser.get(
        f"{idp_web.url}/sso?{redirect_query(authn_request(name_id_format=email), 'keep me')}"
    )
    page = browser.submit(login, button=("user", "dave"))
    assert _status_codes(page)[1] == "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
    assert hidden_value(page, "RelayState") == "keep me"


def test_sp_initiated_response_answers_the_request(browser: Browser, idp_web: RunningIdp) -> None:
    request = authn_request(request_id="_req-42")
    login = browser.get(f"{idp_web.url}/sso?{redirect_query(request, 'r+s/é')}")
    assert "_req-42" in login.text
    preview = browser.submit(login, button=("user", "alice"))
    xml = base64.b64decode(hidden_value(preview, "SAMLResponse") or "")
    root = etree.fromstring(xml)
    assert root.get("InResponseTo") == "_req-42"
    assert root.xpath("//saml:SubjectConfirmationData/@InResponseTo", namespaces=NSMAP) == [
        "_req-42"
    ]
    assert hidden_value(preview, "RelayState") == "r+s/é"
