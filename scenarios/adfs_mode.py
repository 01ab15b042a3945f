"""ADFS-compatible mode of the web IdP: the IdP-initiated sign-on page that ADFS clients use.

aws-adfs (and people used to ADFS) open
``https://HOST/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices`` and POST the
forms-authentication fields ``UserName``, ``Password`` and ``AuthMethod=FormsAuthentication``.
ADFS answers with the login form (``form#loginForm``, an error in ``label#errorText``) or with
the auto-posting form whose ``SAMLResponse`` input aws-adfs scrapes. Served over TLS with a
self-signed certificate, as aws-adfs only speaks HTTPS (``--no-ssl-verification``).
"""

from __future__ import annotations

import hmac
import threading
from pathlib import Path

from flask import Flask, Response, render_template_string, request
from werkzeug.serving import make_server

from idp.app import RunningIdp, WebConfig, bind, create_app
from idp.certs import generate_self_signed, write_pair
from idp.directory import UnknownUserError, User
from idp.views.common import PendingLogin, state
from idp.views.sso import sign_in

SIGNON_PATH = "/adfs/ls/IdpInitiatedSignOn.aspx"
AWS_RELYING_PARTY = "urn:amazon:webservices"
"""The relying-party identifier of AWS in ADFS (``loginToRp``)."""
WRONG_CREDENTIALS = (
    "Incorrect user ID or password. Type the correct user ID and password, and try again."
)
"""ADFS's own text for a failed forms login."""

_LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign In · fedharness (ADFS mode)</title>
<link rel="stylesheet" href="{{ url_for('static', filename='style.css') }}"></head>
<body><main>
<h1>Sign in to <em>{{ relying_party }}</em></h1>
<p>fedharness mock IdP, ADFS-compatible sign-on page. Users without a password in the directory
  sign in with any password.</p>
<form method="post" id="loginForm" autocomplete="off" action="{{ action }}">
  {% if error %}<p class="error" role="alert">
    <label id="errorText" for="userNameInput">{{ error }}</label></p>{% endif %}
  <fieldset>
    <legend>Forms authentication</legend>
    <label>User account <input id="userNameInput" name="UserName" type="text"
      value="{{ user_name }}" placeholder="someone@example.com or DOMAIN\\user"></label>
    <label>Password <input id="passwordInput" name="Password" type="password"></label>
    <input id="authMethod" type="hidden" name="AuthMethod" value="FormsAuthentication">
    <span id="submitButton"><button type="submit">Sign in</button></span>
  </fieldset>
</form>
</main></body></html>
"""


def add_adfs_signon(app: Flask, *, sp: str = "aws") -> None:
    """Serve ADFS's IdP-initiated sign-on page on ``app``, signing users in to ``sp``."""

    def signon() -> Response:
        relying_party = request.args.get("loginToRp", AWS_RELYING_PARTY)
        if relying_party != AWS_RELYING_PARTY:
            return _login_form(
                relying_party,
                f"MSIS7012: no relying party {relying_party!r} "
                f"is configured here (only {AWS_RELYING_PARTY})",
                status=400,
            )
        user_name = request.form.get("UserName", "")
        password = request.form.get("Password", "")
        if request.method == "GET" or not user_name or not password:
            return _login_form(relying_party, None, user_name=user_name)
        user = _find_user(user_name)
        if user is None or (
            user.password is not None
            and not hmac.compare_digest(password.encode(), user.password.encode())
        ):
            return _login_form(relying_party, WRONG_CREDENTIALS, user_name=user_name)
        trust = state().trust[sp]
        pending = PendingLogin(sp=sp, acs=trust.acs_urls[0], relay_state=trust.relay_state)
        return sign_in(pending, user.name, authn_instant=state().now(), preview=False)

    app.add_url_rule(SIGNON_PATH, "adfs_signon", signon, methods=["GET", "POST"])


def _find_user(typed: str) -> User | None:
    """Return the user for ``alice``, ``CORP\\alice`` or ``alice@corp.example``, if any."""
    directory = state().provider().directory
    candidates = [typed, typed.rsplit("\\", 1)[-1], typed.split("@", 1)[0]]
    for name in dict.fromkeys(candidates):
        try:
            return directory.user(name)
        except UnknownUserError:
            continue
    return None


def _login_form(
    relying_party: str, error: str | None, *, user_name: str = "", status: int = 200
) -> Response:
    page = render_template_string(
        _LOGIN_FORM,
        relying_party=relying_party,
        error=error,
        user_name=user_name,
        action=request.full_path,
    )
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def serve_adfs_in_thread(
    config: WebConfig, tls_dir: Path, *, host: str = "127.0.0.1", port: int = 0, sp: str = "aws"
) -> RunningIdp:
    """Serve the web IdP with the ADFS sign-on page over TLS (a new self-signed certificate)."""
    key_path, cert_path = write_pair(
        generate_self_signed("fedharness ADFS mode"), tls_dir, "adfs-tls"
    )
    listener = bind(host, port)
    try:
        bound_port = listener.getsockname()[1]
        url = f"https://{host}:{bound_port}"
        app = create_app(config.with_base_url(url))
        add_adfs_signon(app, sp=sp)
        server = make_server(
            host,
            bound_port,
            app,
            threaded=True,
            fd=listener.fileno(),
            ssl_context=(str(cert_path), str(key_path)),
        )
    finally:
        listener.close()
    thread = threading.Thread(target=server.serve_forever, name="fedharness-adfs", daemon=True)
    thread.start()
    return RunningIdp(url=url, app=app, server=server, thread=thread)
