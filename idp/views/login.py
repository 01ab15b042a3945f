"""The login pages: a user picker (or a typed name, and a password when the user has one)."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, redirect, request, url_for

from idp.directory import UnknownUserError
from idp.views.common import PendingLogin, query_text, state
from idp.views.errors import BadApiRequestError, WrongPasswordError, status_of, wants_json
from idp.views.sso import login_page, sign_in

bp = Blueprint("login", __name__)


@bp.get("/")
def home() -> Response:
    """Send visitors to the login page for the default SP."""
    return redirect(url_for("login.show"))  # type: ignore[return-value]


@bp.get("/login")
def show() -> Response:
    """Show the IdP-initiated login page for ``?sp=NAME`` (AWS, or the first SP, by default)."""
    current = state()
    default = "aws" if "aws" in current.trust else next(iter(current.trust))
    name = query_text("sp", default)
    current.provider().service_provider(name)  # unknown names raise UnknownServiceProviderError
    trust = current.trust[name]
    return login_page(PendingLogin(sp=name, acs=trust.acs_urls[0], relay_state=trust.relay_state))


@bp.post("/login")
def submit() -> Response:
    """Log in the picked or typed user and answer the pending sign-in."""
    current = state()
    pending = PendingLogin.from_token(request.form.get("token", ""))
    name = (request.form.get("user") or request.form.get("typed_user") or "").strip()
    password = request.form.get("password", "")
    if not name:
        return _refuse(pending, BadApiRequestError("pick a user or type a name"), name)
    try:
        user = current.provider().directory.user(name)
    except UnknownUserError as exc:
        return _refuse(pending, exc, name)
    if user.password is not None and not hmac.compare_digest(
        password.encode(), user.password.encode()
    ):
        given = "no password was given" if not password else "the password is wrong"
        return _refuse(pending, WrongPasswordError(f"{user.name} has a password and {given}"), name)
    preview = current.web.preview and request.form.get("preview", "1") != "0"
    return sign_in(pending, user.name, authn_instant=current.now(), preview=preview)


def _refuse(
    pending: PendingLogin,
    error: UnknownUserError | BadApiRequestError | WrongPasswordError,
    typed: str,
) -> Response:
    """Show the login page again with the error (JSON clients get the error itself)."""
    if wants_json():
        raise error
    return login_page(pending, typed=typed, error=error.message, status=status_of(error))
