"""Every way a request can be wrong: a clear page (or JSON) with the right 4xx, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from lxml import etree

from idp.app import RunningIdp
from idp.saml.constants import SignatureAlgorithm
from idp.saml.keys import KeyPair
from tests.idp.web.messages import (
    BILLION_LAUGHS,
    SIGNED_SP,
    XXE,
    authn_request,
    b64,
    deflate,
    post_form,
    redirect_query,
    signed_redirect_url,
)


@dataclass(frozen=True)
class Sent:
    """What a case sends to the IdP."""

    method: str
    path: str
    query: str = ""
    form: dict[str, str] | None = None


Case = Callable[[str, KeyPair, KeyPair], Sent]
"""(IdP URL, SP key, IdP key) → the request to send."""


def get_sso(query: str) -> Sent:
    return Sent("GET", "/sso", query)


def post_sso(form: dict[str, str]) -> Sent:
    return Sent("POST", "/sso", form=form)


def _old() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _future() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def _tampered(url: str, sp_key: KeyPair) -> Sent:
    signed = signed_redirect_url(f"{url}/sso", authn_request(SIGNED_SP), sp_key, relay_state="r1")
    return get_sso(signed.split("?", 1)[1].replace("RelayState=r1", "RelayState=r2"))


def _signed_by(
    key: KeyPair,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
) -> Callable[[str], Sent]:
    def build(url: str) -> Sent:
        signed = signed_redirect_url(
            f"{url}/sso", authn_request(SIGNED_SP), key, algorithm=algorithm
        )
        return get_sso(signed.split("?", 1)[1])

    return build


def _wrapped_post(sp_key: KeyPair) -> Sent:
    """A signed request with a second, unsigned copy hidden inside (signature wrapping)."""
    element = authn_request(SIGNED_SP)
    fields = post_form(element, key=sp_key)
    signed = etree.fromstring(base64.b64decode(fields["SAMLRequest"]))
    extensions = etree.SubElement(signed, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    extensions.append(etree.fromstring(etree.tostring(signed[1])))
    return post_sso({"SAMLRequest": b64(etree.tostring(signed))})


SSO_CASES: dict[str, tuple[Case, int, str, str]] = {
    "redirect-bad-base64": (
        lambda u, s, i: get_sso("SAMLRequest=%25%25not*base64"),
        400,
        "bad_base64",
        "is not valid base64",
    ),
    "post-bad-base64": (
        lambda u, s, i: post_sso({"SAMLRequest": "***"}),
        400,
        "bad_base64",
        "is not valid base64",
    ),
    "empty-request": (lambda u, s, i: get_sso("SAMLRequest="), 400, "bad_base64", "is empty"),
    "no-request": (
        lambda u, s, i: get_sso(""),
        400,
        "malformed_message",
        "no SAMLRequest parameter",
    ),
    "bad-deflate": (
        lambda u, s, i: get_sso(
            "SAMLRequest=" + b64(os.urandom(64)).replace("+", "%2B").replace("/", "%2F")
        ),
        400,
        "bad_deflate",
        "does not inflate",
    ),
    "truncated-deflate": (
        lambda u, s, i: get_sso(
            "SAMLRequest="
            + b64(deflate(etree.tostring(authn_request()))[:40])
            .replace("+", "%2B")
            .replace("/", "%2F")
        ),
        400,
        "bad_deflate",
        "truncated",
    ),
    "not-xml": (
        lambda u, s, i: get_sso(redirect_query(b"hello, I am not XML")),
        400,
        "not_xml",
        "is not XML",
    ),
    "post-not-xml": (
        lambda u, s, i: post_sso({"SAMLRequest": b64(b"<unclosed")}),
        400,
        "not_xml",
        "is not XML",
    ),
    "doctype-billion-laughs": (
        lambda u, s, i: get_sso(redirect_query(BILLION_LAUGHS)),
        400,
        "doctype_refused",
        "DOCTYPE",
    ),
    "doctype-xxe-post": (
        lambda u, s, i: post_sso({"SAMLRequest": b64(XXE)}),
        400,
        "doctype_refused",
        "DOCTYPE",
    ),
    "post-encoding-in-url": (
        lambda u, s, i: get_sso(
            "SAMLRequest="
            + b64(etree.tostring(authn_request())).replace("+", "%2B").replace("/", "%2F")
        ),
        400,
        "wrong_binding",
        "came in a URL",
    ),
    "redirect-encoding-in-post": (
        lambda u, s, i: post_sso({"SAMLRequest": b64(deflate(etree.tostring(authn_request())))}),
        400,
        "wrong_binding",
        "came in a POST form",
    ),
    "request-in-url-of-post": (
        lambda u, s, i: Sent("POST", "/sso", redirect_query(authn_request()), form={"x": "y"}),
        400,
        "wrong_binding",
        "came in the URL of a POST",
    ),
    "artifact-response-binding": (
        lambda u, s, i: get_sso(
            redirect_query(
                authn_request(protocol_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")
            )
        ),
        400,
        "wrong_binding",
        "answers only with",
    ),
    "expired-request": (
        lambda u, s, i: get_sso(redirect_query(authn_request(issue_instant=_old()))),
        400,
        "expired_request",
        "has expired",
    ),
    "request-from-the-future": (
        lambda u, s, i: get_sso(redirect_query(authn_request(issue_instant=_future()))),
        400,
        "expired_request",
        "in the future",
    ),
    "not-an-authn-request": (
        lambda u, s, i: get_sso(
            redirect_query(
                b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'
            )
        ),
        400,
        "wrong_message",
        "expected a samlp:AuthnRequest",
    ),
    "no-id": (
        lambda u, s, i: get_sso(
            redirect_query(etree.tostring(authn_request()).replace(b' ID="', b' X="'))
        ),
        400,
        "malformed_message",
        "not an xs:ID",
    ),
    "wrong-destination": (
        lambda u, s, i: get_sso(
            redirect_query(authn_request(destination="https://elsewhere.example/sso"))
        ),
        400,
        "wrong_destination",
        "is not this IdP's endpoint",
    ),
    "too-large": (
        lambda u, s, i: post_sso({"SAMLRequest": "A" * 200_000}),
        413,
        "too_large",
        "characters long",
    ),
    "deflate-bomb": (
        lambda u, s, i: get_sso(redirect_query(b"<a>" + b" " * 5_000_000)),
        413,
        "too_large",
        "inflates to more than",
    ),
    "unknown-sp": (
        lambda u, s, i: get_sso(redirect_query(authn_request("http://who.example"))),
        403,
        "unknown_sp",
        "no registered service provider has the entityID",
    ),
    "no-issuer": (
        lambda u, s, i: get_sso(redirect_query(authn_request(None))),
        403,
        "unknown_sp",
        "entityID None",
    ),
    "unregistered-acs": (
        lambda u, s, i: get_sso(redirect_query(authn_request(acs="https://attacker.example/acs"))),
        403,
        "unregistered_acs",
        "the IdP never posts elsewhere",
    ),
    "unsigned-for-signing-sp-redirect": (
        lambda u, s, i: get_sso(redirect_query(authn_request(SIGNED_SP))),
        403,
        "unsigned_request",
        "this AuthnRequest is unsigned",
    ),
    "unsigned-for-signing-sp-post": (
        lambda u, s, i: post_sso(post_form(authn_request(SIGNED_SP))),
        403,
        "unsigned_request",
        "this AuthnRequest is unsigned",
    ),
    "tampered-relay-state": (
        lambda u, s, i: _tampered(u, s),
        403,
        "bad_signature",
        "does not verify",
    ),
    "signed-by-another-key": (
        lambda u, s, i: _signed_by(i)(u),
        403,
        "bad_signature",
        "does not verify",
    ),
    "sha1-signature": (
        lambda u, s, i: _signed_by(s, SignatureAlgorithm.RSA_SHA1)(u),
        403,
        "bad_signature",
        "is refused",
    ),
    "post-signed-by-another-key": (
        lambda u, s, i: post_sso(post_form(authn_request(SIGNED_SP), key=i)),
        403,
        "bad_signature",
        "does not verify",
    ),
    "post-signature-wrapping": (
        lambda u, s, i: _wrapped_post(s),
        403,
        "bad_signature",
        "exactly one ds:Signature",
    ),
}


@pytest.mark.parametrize(
    ("case", "status", "code", "message"), SSO_CASES.values(), ids=SSO_CASES.keys()
)
@pytest.mark.parametrize("client", ["browser", "api"])
def test_bad_authn_request_is_refused_clearly(
    idp_web: RunningIdp,
    sp_key: KeyPair,
    idp_key: KeyPair,
    case: Case,
    status: int,
    code: str,
    message: str,
    client: str,
) -> None:
    sent = case(idp_web.url, sp_key, idp_key)
    accept = "text/html" if client == "browser" else "application/json"
    url = f"{idp_web.url}{sent.path}" + (f"?{sent.query}" if sent.query else "")
    answer = requests.request(
        sent.method, url, data=sent.form, headers={"Accept": accept}, timeout=30
    )
    assert answer.status_code == status, answer.text[:2000]
    assert "Traceback" not in answer.text
    if client == "browser":
        assert answer.headers["Content-Type"].startswith("text/html")
        assert message in answer.text.replace("&#39;", "'").replace("&#34;", '"')
        assert f"<code>{code}</code>" in answer.text
    else:
        error = answer.json()["error"]
        assert (error["status"], error["code"]) == (status, code)
        assert message in error["message"]


PAGE_CASES: dict[str, tuple[str, int, str]] = {
    "unknown-user": ("/sso/aws?user=zed", 404, "unknown user 'zed'"),
    "unknown-user-suggestion": ("/sso/aws?user=alicia", 404, "did you mean 'alice'"),
    "unknown-sp": ("/sso/nope?user=alice", 404, "unknown service provider 'nope'"),
    "unknown-sp-login-page": ("/login?sp=nope", 404, "unknown service provider 'nope'"),
    "unregistered-acs-idp-initiated": (
        "/sso/aws?user=alice&acs=https://evil.example/",
        403,
        "is not a registered ACS",
    ),
    "no-such-page": ("/no/such/page", 404, "not found"),
    "slo-without-message": ("/slo", 400, "no SAMLRequest parameter"),
}


@pytest.mark.parametrize(("path", "status", "message"), PAGE_CASES.values(), ids=PAGE_CASES.keys())
def test_bad_page_request_is_a_clear_page(
    idp_web: RunningIdp, path: str, status: int, message: str
) -> None:
    answer = requests.get(f"{idp_web.url}{path}", timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("text/html")
    assert message in answer.text.replace("&#39;", "'")
    assert "Traceback" not in answer.text


def test_wrong_method_is_405(idp_web: RunningIdp) -> None:
    answer = requests.delete(f"{idp_web.url}/metadata", timeout=10)
    assert answer.status_code == 405
    assert "Method Not Allowed" in answer.text


def test_login_with_unknown_typed_name_shows_the_login_page_again(idp_web: RunningIdp) -> None:
    from tests.idp.web.conftest import Browser

    browser = Browser()
    page = browser.get(f"{idp_web.url}/login")
    answer = browser.submit(page, values={"typed_user": "zed"})
    assert answer.status_code == 404
    assert "unknown user &#39;zed&#39;" in answer.text
    assert 'name="typed_user" value="zed"' in answer.text


def test_altered_login_token_is_refused(idp_web: RunningIdp) -> None:
    answer = requests.post(
        f"{idp_web.url}/login", data={"token": "forged", "user": "alice"}, timeout=10
    )
    assert answer.status_code == 400
    assert "this login form was altered" in answer.text


def test_error_pages_escape_what_the_request_said(idp_web: RunningIdp) -> None:
    answer = requests.get(
        f"{idp_web.url}/sso/aws", params={"user": "<script>x</script>"}, timeout=10
    )
    assert answer.status_code == 404
    assert "<script>x</script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
