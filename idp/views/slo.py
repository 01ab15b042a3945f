"""Single logout on ``/slo`` (HTTP-Redirect and HTTP-POST) and the IdP's own ``/logout`` page.

An SP's LogoutRequest ends the IdP session and is answered with a signed LogoutResponse at the
SP's SingleLogoutService. ``POST /logout`` ends the session at the IdP and sends a LogoutRequest
to each SP the user signed in to, one after the other, each LogoutResponse leading to the next.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, redirect, render_template, request, session
from lxml import etree

from idp.saml.authn_request import ExpiredRequestError, check_age
from idp.saml.logout import (
    build_logout_request,
    build_logout_response,
    new_logout_request,
    parse_logout_request,
    parse_logout_response,
    post_value,
    redirect_url,
)
from idp.views.common import SESSION_KEY, participations, post_form, signed_in_user, state
from idp.views.errors import NoLogoutEndpointError
from idp.views.sso import check_destination, check_request_signature, receive
from idp.web_settings import SpTrust

bp = Blueprint("slo", __name__)

LOGOUT_KEY = "logout"


@bp.route("/slo", methods=["GET", "POST"])
def single_logout() -> Response:
    """Take a LogoutRequest (answer it) or a LogoutResponse (continue the IdP's logout)."""
    source = request.args if request.method == "GET" else request.form
    if "SAMLResponse" in source:
        return _logout_response()
    return _logout_request()


def _logout_request() -> Response:
    current = state()
    message, params = receive("SAMLRequest")
    logout = parse_logout_request(message.root)
    trust = current.sp_by_entity_id(logout.issuer)
    check_request_signature(message, params, trust, "LogoutRequest")
    now = current.now()
    skew = dt.timedelta(seconds=current.web.clock_skew)
    check_age(
        logout.issue_instant,
        now=now,
        skew=skew,
        what="LogoutRequest",
        max_age=dt.timedelta(seconds=current.web.request_max_age),
    )
    if logout.not_on_or_after is not None and now - skew >= logout.not_on_or_after:
        raise ExpiredRequestError(
            f"the LogoutRequest expired at {logout.not_on_or_after.isoformat()}"
        )
    check_destination(logout.destination, "slo")
    if trust.slo_url is None:
        raise NoLogoutEndpointError(
            f"service provider {trust.name!r} has no SingleLogoutService URL to answer at "
            f"(idp.web.service_providers.{trust.name}.slo_url or its metadata)"
        )
    session.pop(SESSION_KEY, None)
    response = build_logout_response(
        issuer=current.provider().settings.entity_id,
        in_response_to=logout.request_id,
        now=now,
        destination=trust.slo_url,
    )
    return _send(trust, "SAMLResponse", response, message.relay_state)


def _logout_response() -> Response:
    current = state()
    message, params = receive("SAMLResponse")
    answer = parse_logout_response(message.root)
    trust = current.sp_by_entity_id(answer.issuer)
    if trust.certificates:
        check_request_signature(message, params, trust, "LogoutResponse")
    progress = session.get(LOGOUT_KEY) or {"pending": [], "done": {}, "waiting": None}
    waiting = progress.get("waiting")
    if waiting and waiting.get("sp") == trust.name and (waiting.get("id") == answer.in_response_to):
        progress["done"][trust.name] = (
            "signed out" if answer.succeeded else (f"refused ({answer.status})")
        )
        progress["waiting"] = None
    session[LOGOUT_KEY] = progress
    return _next_logout()


@bp.get("/logout")
def logout_page() -> Response:
    """Show who is signed in, and to which SPs, with a button to sign out everywhere."""
    user = signed_in_user()
    return Response(
        render_template("logout.html", user=user[0] if user else None, sps=sorted(participations()))
    )


@bp.post("/logout")
def logout() -> Response:
    """End the IdP session and log the user out of every SP they signed in to."""
    current = state()
    pending = [
        sp
        for sp in participations()
        if sp in current.trust and current.trust[sp].slo_url is not None
    ]
    session[LOGOUT_KEY] = {
        "pending": pending,
        "done": {},
        "waiting": None,
        "who": participations_as_dict(),
    }
    session.pop(SESSION_KEY, None)
    return _next_logout()


def participations_as_dict() -> dict[str, dict[str, str | None]]:
    """Return the session's participations as plain data, kept while logging out."""
    return {sp: dict(vars(p)) for sp, p in participations().items()}


def _next_logout() -> Response:
    current = state()
    progress = session.get(LOGOUT_KEY) or {"pending": [], "done": {}, "waiting": None}
    while progress["pending"]:
        sp = progress["pending"].pop(0)
        who = progress.get("who", {}).get(sp)
        trust = current.trust.get(sp)
        if who is None or trust is None or trust.slo_url is None:
            continue
        outgoing = new_logout_request(
            issuer=current.provider().settings.entity_id,
            destination=trust.slo_url,
            name_id=who["name_id"],
            name_id_format=who["name_id_format"],
            session_index=who["session_index"],
            sp_name_qualifier=who["sp_name_qualifier"],
            now=current.now(),
        )
        progress["waiting"] = {"sp": sp, "id": outgoing.request_id}
        session[LOGOUT_KEY] = progress
        return _send(trust, "SAMLRequest", build_logout_request(outgoing), None)
    session.pop(LOGOUT_KEY, None)
    return Response(render_template("logged_out.html", done=progress.get("done", {})))


def _send(
    trust: SpTrust, parameter: str, element: etree._Element, relay_state: str | None
) -> Response:
    """Send a signed logout message to the SP's SLO URL with its binding."""
    if trust.slo_url is None:
        raise NoLogoutEndpointError(f"service provider {trust.name!r} has no SLO URL")
    key = state().provider().signing_key
    if trust.slo_binding == "post":
        return post_form(
            trust.slo_url,
            {parameter: post_value(element, key), "RelayState": relay_state},
            title="Signing out",
            button="Continue",
        )
    location = redirect_url(trust.slo_url, parameter, element, key=key, relay_state=relay_state)
    response: Response = redirect(location)  # type: ignore[assignment]
    response.headers["Cache-Control"] = "no-store"
    return response
