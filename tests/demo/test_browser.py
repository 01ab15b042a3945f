"""The demo in a real browser: Playwright driving Debian's Chromium, headless.

Screenshots of the key pages go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios.adfs_mode import AWS_RELYING_PARTY, SIGNON_PATH
from scenarios.demo import RunningDemo
from sp_fixtures.aws.signin import INVALID_RESPONSE
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's Chromium (/usr/bin/chromium) is not installed; `scripts/dev test` installs it",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    with (
        tempfile.TemporaryDirectory(prefix="fedharness-chromium-") as profile,
        sync_api.sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 800},
            ignore_https_errors=True,  # the ADFS mode's self-signed certificate
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    browser.clear_cookies()
    opened = browser.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        opened.close()


def shot(page: Any, name: str, *, height: int | None = None) -> None:
    """Save a screenshot of the page (its top ``height`` pixels when given)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    if height is None:
        page.screenshot(path=path, full_page=True)
    else:  # the README's picture (docs/demo-role-picker.png is a copy of it)
        page.screenshot(path=path, clip={"x": 0, "y": 0, "width": 1100, "height": height})


def sign_in_as(page: Any, user: str, prefix: str) -> None:
    """On the IdP's login page, pick ``user`` and send the previewed response."""
    page.get_by_role("button", name=f"Sign in as {user}").click()
    page.wait_for_selector("#saml-post")
    shot(page, f"{prefix}-2-idp-preview")
    page.locator("#saml-post button[type=submit]").click()


def test_idp_initiated_login_to_role_picker_to_session(demo: RunningDemo, page: Any) -> None:
    page.goto(demo.login_url)
    assert "Sign in to" in page.locator("h1").inner_text()
    shot(page, "idp-initiated-1-idp-login")
    sign_in_as(page, "alice", "idp-initiated")

    page.wait_for_selector("#signin_button")
    assert page.url == f"{demo.signin.url}/saml"
    accounts = page.locator("fieldset.account legend").all_inner_texts()
    assert accounts == ["Account: 111111111111", "Account: 222222222222"]
    shot(page, "idp-initiated-3-aws-role-picker")
    shot(page, "readme-role-picker", height=410)
    page.check("input[name=role][value^='arn:aws:iam::222222222222:role/Developer|']")
    page.click("#signin_button")

    page.wait_for_selector("#assumed-role")
    assert page.locator("#assumed-role").inner_text() == (
        "arn:aws:sts::222222222222:assumed-role/Developer/alice@corp.example"
    )
    assert "export AWS_SESSION_TOKEN=" in page.locator("#credentials").inner_text()
    shot(page, "idp-initiated-4-aws-session")


def test_sp_initiated_login_answers_the_authn_request(demo: RunningDemo, page: Any) -> None:
    page.goto(demo.sp_initiated_url)
    page.wait_for_selector("text=Answers AuthnRequest")
    assert page.url.startswith(f"{demo.idp.url}/sso?SAMLRequest=")
    shot(page, "sp-initiated-1-idp-login")
    sign_in_as(page, "bob", "sp-initiated")

    page.wait_for_selector("#signin_button")
    roles = page.locator("input[name=role]").evaluate_all("els => els.map(e => e.value)")
    assert [role.split("|")[0] for role in roles] == [
        "arn:aws:iam::111111111111:role/ReadOnly",
        "arn:aws:iam::222222222222:role/Developer",
    ]
    page.click("#signin_button")  # the first role is checked, as in the console

    page.wait_for_selector("#assumed-role")
    assert page.locator("#assumed-role").inner_text() == (
        "arn:aws:sts::111111111111:assumed-role/ReadOnly/bob@corp.example"
    )
    shot(page, "sp-initiated-3-aws-session")


def test_user_without_roles_sees_aws_error_text(demo: RunningDemo, page: Any) -> None:
    page.goto(demo.login_url)
    sign_in_as(page, "carol", "no-roles")

    page.wait_for_selector("#error")
    assert page.locator("#error").inner_text() == INVALID_RESPONSE
    assert page.locator("#signin_button").count() == 0
    shot(page, "no-roles-3-aws-error")


def test_adfs_mode_sign_on_page_leads_to_the_role_picker(demo: RunningDemo, page: Any) -> None:
    page.goto(f"{demo.adfs.url}{SIGNON_PATH}?loginToRp={AWS_RELYING_PARTY}")
    page.fill("#userNameInput", "CORP\\bob")
    page.fill("#passwordInput", "anything")
    shot(page, "adfs-1-sign-on")
    page.click("#submitButton button")

    page.wait_for_selector("#signin_button")
    assert page.url == f"{demo.signin.url}/saml"
    assert page.locator("input[name=role]").count() == 2
    shot(page, "adfs-2-aws-role-picker")
