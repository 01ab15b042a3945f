"""Round trips through real HTTP servers: pysaml2 SP → AuthnRequest → login → ACS → accepted."""

from __future__ import annotations

from typing import Any

import pytest

from idp.app import RunningIdp
from tests.idp.web.conftest import ADMIN, PROVIDER, READ_ONLY, Browser

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
RELAY = "https://app.example/after?x=1&y=a b"


def start(
    browser: Browser,
    sp_server: Any,
    sp: str,
    binding: str,
    *,
    sign: bool,
    relay: str = RELAY,
    **extra: str,
) -> Any:
    """Start SP-initiated SSO; return the IdP's page (login page or auto-post form)."""
    page = browser.get(
        f"{sp_server.url}/{sp}/login",
        params={"binding": binding, "sign": "1" if sign else "0", "relay": relay, **extra},
    )
    if binding == "post":  # pysaml2's page posts the AuthnRequest to the IdP
        page = browser.submit(page)
    return page


@pytest.mark.parametrize(
    ("sp", "binding", "sign"),
    [
        ("plain-sp", "redirect", False),
        ("plain-sp", "post", False),
        ("signed-sp", "redirect", True),
        ("signed-sp", "post", True),
        ("plain-sp", "redirect", True),
    ],
    ids=[
        "redirect-unsigned",
        "post-unsigned",
        "redirect-signed",
        "post-signed",
        "redirect-signed-optional",
    ],
)
def test_sp_initiated_round_trip(
    browser: Browser, sp_server: Any, idp_web: RunningIdp, sp: str, binding: str, sign: bool
) -> None:
    login = start(browser, sp_server, sp, binding, sign=sign)
    assert login.status_code == 200, login.text
    assert "Sign in to" in login.text
    assert ("signed, signature verified" in login.text) is sign
    preview = browser.submit(login, button=("user", "alice"))
    assert preview.status_code == 200, preview.text
    assert 'class="aws"' in preview.text and ROLE in preview.text
    accepted = browser.submit(preview, form_id="saml-post")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["accepted"] is True
    assert body["relay_state"] == RELAY
    assert body["in_response_to"] in sp_server.sps[sp].outstanding
    assert sorted(body["attributes"][ROLE]) == sorted(
        [f"{ADMIN},{PROVIDER}", f"{READ_ONLY},{PROVIDER}"]
    )
    assert body["attributes"][SESSION_NAME] == ["alice@corp.example"]


def test_session_is_reused_without_login_unless_force_authn(
    browser: Browser, sp_server: Any, idp_web: RunningIdp
) -> None:
    first = start(browser, sp_server, "plain-sp", "redirect", sign=False)
    browser.submit(browser.submit(first, button=("user", "alice")), form_id="saml-post")
    again = start(browser, sp_server, "plain-sp", "redirect", sign=False)
    assert "Sign in to" not in again.text and "autosubmit.js" in again.text
    accepted = browser.submit(again, form_id="saml-post").json()
    assert accepted["attributes"][SESSION_NAME] == ["alice@corp.example"]
    forced = start(browser, sp_server, "plain-sp", "redirect", sign=False, force="1")
    assert "Sign in to" in forced.text and "fresh login" in forced.text


def test_password_user_needs_the_password(
    browser: Browser, sp_server: Any, idp_web: RunningIdp
) -> None:
    login = start(browser, sp_server, "plain-sp", "post", sign=False)
    refused = browser.submit(login, button=("user", "bob"), values={"password": "nope"})
    assert refused.status_code == 401
    assert "bob has a password and the password is wrong" in refused.text
    preview = browser.submit(refused, values={"typed_user": "bob", "password": "hunter2"})
    assert preview.status_code == 200
    accepted = browser.submit(preview, form_id="saml-post").json()
    assert accepted["attributes"][ROLE] == [f"{READ_ONLY},{PROVIDER}"]


def test_name_id_policy_email_is_honoured(
    browser: Browser, sp_server: Any, idp_web: RunningIdp
) -> None:
    email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    login = start(browser, sp_server, "plain-sp", "redirect", sign=False, nameid=email)
    accepted = browser.submit(
        browser.submit(login, button=("user", "alice")), form_id="saml-post"
    ).json()
    assert accepted["name_id"] == "alice@corp.example"
    assert accepted["name_id_format"] == email


def test_group_change_through_the_api_reaches_the_sp(
    browser: Browser, sp_server: Any, idp_web: RunningIdp
) -> None:
    changed = browser.session.put(
        f"{idp_web.url}/api/users/alice/groups", json={"groups": ["readers"]}, timeout=10
    )
    assert changed.status_code == 200
    login = start(browser, sp_server, "signed-sp", "redirect", sign=True)
    accepted = browser.submit(
        browser.submit(login, button=("user", "alice")), form_id="saml-post"
    ).json()
    assert accepted["attributes"][ROLE] == [f"{READ_ONLY},{PROVIDER}"]


@pytest.mark.parametrize("sp", ["plain-sp", "signed-sp"])
def test_sp_initiated_single_logout(
    browser: Browser, sp_server: Any, idp_web: RunningIdp, sp: str
) -> None:
    login = start(browser, sp_server, sp, "redirect", sign=sp == "signed-sp")
    browser.submit(browser.submit(login, button=("user", "alice")), form_id="saml-post")
    answer = browser.get(f"{sp_server.url}/{sp}/logout")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "urn:oasis:names:tc:SAML:2.0:status:Success"
    page = browser.get(f"{idp_web.url}/logout")
    assert "Nobody is signed in" in page.text


def test_idp_initiated_single_logout_reaches_the_sp(
    browser: Browser, sp_server: Any, idp_web: RunningIdp
) -> None:
    login = start(browser, sp_server, "plain-sp", "redirect", sign=False)
    browser.submit(browser.submit(login, button=("user", "alice")), form_id="saml-post")
    page = browser.get(f"{idp_web.url}/logout")
    assert "Signed in as" in page.text and "plain-sp" in page.text
    done = browser.submit(page)
    assert done.status_code == 200, done.text
    assert "plain-sp: signed out" in done.text
