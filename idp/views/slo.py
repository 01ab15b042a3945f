"""Single logout on ``/slo`` (HTTP-Redirect and HTTP-POST) and the IdP's own ``/logout`` page.

An SP's LogoutRequest is checked against the session: its NameID (and SessionIndex, when it
names any) must be the ones the IdP issued to that SP in this browser's session; otherwise it
is answered Requester/UnknownPrincipal and the session is left alone. When it matches, the IdP
session ends and the IdP sends a LogoutRequest to each other SP the user signed in to (front
channel, one after the other through the browser, SAML profiles §4.4.3), then answers the
initiator: Success, or Responder/PartialLogout when an SP could not be reached (no
SingleLogoutService) or did not sign out. ``POST /logout`` ends the session at the IdP and
walks the SPs the same way, then shows what happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session
from lxml import etree

from idp.saml.authn_request import ExpiredRequestError, check_age
from idp.saml.constants import NameIDFormat, StatusCode
from idp.saml.logout import (
    PARTIAL_LOGOUT,
    UNKNOWN_PRINCIPAL,
    LogoutRequest,
    build_logout_request,
    build_logout_response,
    new_logout_request,
    parse_logout_request,
    parse_logout_response,
    post_value,
    redirect_url,
)
from idp.views.common import (
    SESSION_KEY,
    checked_text,
    participations,
    post_form,
    signed_in_user,
    state,
)
from idp.views.errors import NoLogoutEndpointError
from idp.views.sso import check_destination, check_request_signature, receive
from idp.web_settings import SpTrust

bp = Blueprint("slo", __name__)

LOGOUT_KEY = "logout"
SIGNED_OUT = "signed out"


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
    signed = check_request_signature(message, params, trust, "LogoutRequest")
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
    check_destination(logout.destination, "slo", signed=signed)
    current.refuse_replay(logout.issuer, logout.request_id, "LogoutRequest")
    if trust.slo_answer_url is None:
        raise NoLogoutEndpointError(
            f"service provider {trust.name!r} has no SingleLogoutService URL to answer at "
            f"(idp.web.service_providers.{trust.name}.slo_url or its metadata)"
        )
    reply = {
        "sp": trust.name,
        "in_response_to": logout.request_id,
        "relay_state": checked_text("RelayState", message.relay_state),
    }
    problem = _not_this_session(logout, trust)
    if problem is not None:  # somebody else's session, or none: leave this one alone
        return _answer(reply, StatusCode.REQUESTER, UNKNOWN_PRINCIPAL, problem)
    who = participations_as_dict()
    others = [sp for sp in who if sp != trust.name]
    pending = [sp for sp in others if sp in current.trust and current.trust[sp].slo_url]
    session[LOGOUT_KEY] = {
        "pending": pending,
        "done": {
            sp: "not signed out (no SingleLogoutService)" for sp in others if sp not in pending
        },
        "waiting": None,
        "who": who,
        "reply": reply,
    }
    session.pop(SESSION_KEY, None)
    return _next_logout()


def _not_this_session(logout: LogoutRequest, trust: SpTrust) -> str | None:
    """Say why ``logout`` does not name this session's participation at ``trust`` (None if
    it does). The messages never reveal the NameID or SessionIndex the IdP issued."""
    user = signed_in_user()
    if user is None:
        return "nobody is signed in at the IdP in this session"
    participation = participations().get(trust.name)
    if participation is None:
        return f"the session's user is not signed in to {trust.name!r}"
    if logout.name_id != participation.name_id:
        return f"the NameID is not the one the IdP issued to {trust.name!r} in this session"
    if logout.name_id_format not in (
        None,
        NameIDFormat.UNSPECIFIED,
        participation.name_id_format,
    ):
        return f"the NameID Format {logout.name_id_format!r} is not the one the IdP issued"
    if logout.sp_name_qualifier not in (
        None,
        participation.sp_name_qualifier,
        trust.entity_id,
    ):
        return f"the NameID's SPNameQualifier {logout.sp_name_qualifier!r} is not the SP's"
    if logout.session_indexes and participation.session_index not in logout.session_indexes:
        return f"no SessionIndex names the session the IdP gave {trust.name!r}"
    return None


def _logout_response() -> Response:
    current = state()
    message, params = receive("SAMLResponse")
    answer = parse_logout_response(message.root)
    trust = current.sp_by_entity_id(answer.issuer)
    signed = False
    if trust.certificates:
        signed = check_request_signature(message, params, trust, "LogoutResponse")
    check_destination(answer.destination, "slo", signed=signed)
    progress = session.get(LOGOUT_KEY) or {"pending": [], "done": {}, "waiting": None}
    waiting = progress.get("waiting")
    if waiting and waiting.get("sp") == trust.name and (waiting.get("id") == answer.in_response_to):
        progress["done"][trust.name] = (
            SIGNED_OUT if answer.succeeded else (f"refused ({answer.status})")
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
    done: dict[str, str] = progress.get("done", {})
    reply = progress.get("reply")
    if reply is not None:  # an SP started this logout: answer it now
        left = sorted(sp for sp in progress.get("who", {}) if sp != reply["sp"])
        failed = [sp for sp in left if done.get(sp) != SIGNED_OUT]
        if not failed:
            return _answer(reply, StatusCode.SUCCESS, None, None)
        return _answer(
            reply,
            StatusCode.RESPONDER,
            PARTIAL_LOGOUT,
            "the IdP session ended but not every other service provider signed out: "
            + "; ".join(f"{sp}: {done.get(sp, 'no answer')}" for sp in failed),
        )
    return Response(render_template("logged_out.html", done=done))


def _answer(
    reply: dict[str, Any], status: str, second_level: str | None, message: str | None
) -> Response:
    """Send the LogoutResponse to the SP whose LogoutRequest ``reply`` describes."""
    current = state()
    trust = current.trust[reply["sp"]]
    response = build_logout_response(
        issuer=current.provider().settings.entity_id,
        in_response_to=reply["in_response_to"],
        now=current.now(),
        destination=trust.slo_answer_url,
        status=status,
        second_level=second_level,
        message=message,
    )
    return _send(trust, "SAMLResponse", response, reply.get("relay_state"))


def _send(
    trust: SpTrust, parameter: str, element: etree._Element, relay_state: str | None
) -> Response:
    """Send a signed logout message to the SP with its SLO binding: requests to its
    SingleLogoutService Location, responses to its ResponseLocation when it has one."""
    location = trust.slo_answer_url if parameter == "SAMLResponse" else trust.slo_url
    if location is None:
        raise NoLogoutEndpointError(f"service provider {trust.name!r} has no SLO URL")
    key = state().provider().signing_key
    if trust.slo_binding == "post":
        return post_form(
            location,
            {parameter: post_value(element, key), "RelayState": relay_state},
            title="Signing out",
            button="Continue",
        )
    location = redirect_url(location, parameter, element, key=key, relay_state=relay_state)
    response: Response = redirect(location)  # type: ignore[assignment]
    response.headers["Cache-Control"] = "no-store"
    return response
