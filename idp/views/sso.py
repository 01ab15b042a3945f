"""Single sign-on: SP-initiated (``/sso``, Redirect and POST) and IdP-initiated (``/sso/<sp>``)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Mapping

from flask import Blueprint, Response, render_template, request
from lxml import etree

from idp.config import ServiceProviderSettings
from idp.directory import User
from idp.errors import IdpError
from idp.provider import IdentityProvider, IssuedResponse
from idp.saml.authn_request import (
    STRONG_ALGORITHMS,
    AuthnRequest,
    ReceivedMessage,
    SignatureMissingError,
    WrongBindingError,
    check_age,
    decode_post,
    decode_redirect,
    is_signed,
    parse_authn_request,
    verify_signature,
)
from idp.saml.builder import ResponseSpec, build_response, new_id, to_bytes
from idp.saml.constants import NS, Binding, NameIDFormat, SignatureAlgorithm, StatusCode, qname
from idp.saml.signing import sign_element
from idp.saml.xmlparse import parse_xml
from idp.views.common import (
    Participation,
    PendingLogin,
    checked_text,
    post_form,
    query_text,
    remember_login,
    remember_participation,
    signed_in_user,
    state,
)
from idp.views.errors import UnregisteredAcsError, WrongDestinationError
from idp.web_settings import SpTrust

bp = Blueprint("sso", __name__)

AWS_ATTRIBUTE_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
INVALID_NAME_ID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
USERS_LISTED = 200
"""Most users the login page lists; the others are typed."""


class NameIdPolicyError(IdpError):
    """The SP asks for a NameID format this user cannot be given."""

    code = "invalid_name_id_policy"


@dataclasses.dataclass(frozen=True)
class NameIdChoice:
    """The NameID sent to one SP."""

    value: str
    format: str
    sp_name_qualifier: str | None


@bp.route("/sso", methods=["GET", "POST"])
def sp_initiated() -> Response:
    """Answer an AuthnRequest: log the user in (or reuse the session) and post to the ACS."""
    message, params = receive("SAMLRequest")
    authn = parse_authn_request(message.root)
    current = state()
    trust = current.sp_by_entity_id(authn.issuer)
    signed = check_request_signature(message, params, trust, "AuthnRequest")
    web = current.web
    check_age(
        authn.issue_instant,
        now=current.now(),
        max_age=dt.timedelta(seconds=web.request_max_age),
        skew=dt.timedelta(seconds=web.clock_skew),
    )
    check_destination(authn.destination, "sso", signed=signed)
    current.refuse_replay(authn.issuer, authn.request_id, "AuthnRequest")
    if authn.protocol_binding not in (None, Binding.HTTP_POST):
        raise WrongBindingError(
            f"the AuthnRequest asks for the response by {authn.protocol_binding}; this IdP "
            f"answers only with {Binding.HTTP_POST.value}"
        )
    pending = PendingLogin(
        sp=trust.name,
        acs=choose_acs(authn, trust),
        relay_state=checked_text("RelayState", message.relay_state),
        request_id=authn.request_id,
        name_id_format=authn.name_id_format,
        sp_name_qualifier=authn.sp_name_qualifier,
        force_authn=authn.force_authn,
        request_signed=signed,
    )
    if (problem := sp_name_qualifier_problem(pending, trust)) is not None:
        return status_response(pending, INVALID_NAME_ID_POLICY, problem)
    session_user = signed_in_user()
    if authn.is_passive and (session_user is None or authn.force_authn):
        return status_response(
            pending, NO_PASSIVE, "IsPassive was asked and the user is not signed in"
        )
    if session_user is not None and not authn.force_authn:
        return sign_in(pending, session_user[0], authn_instant=session_user[1], preview=False)
    return login_page(pending)


def sp_name_qualifier_problem(pending: PendingLogin, trust: SpTrust) -> str | None:
    """Say why the NameIDPolicy's SPNameQualifier cannot be honoured (None when it can).

    The IdP signs the SPNameQualifier into the assertion, so it accepts only the requester's
    own entityID: naming another SP would get a NameID that SP accepts as its own (SAML core
    §3.4.1.1; affiliations are not supported).
    """
    asked = pending.sp_name_qualifier
    if asked is None or asked == trust.entity_id:
        return None
    return (
        f"the NameIDPolicy asks for SPNameQualifier {asked!r}; this IdP issues NameIDs only "
        f"qualified by the requester's own entityID ({trust.entity_id!r})"
    )


@bp.get("/sso/<sp>")
def idp_initiated(sp: str) -> Response:
    """Sign a user in to ``sp`` without a request: ``/sso/aws?user=alice``."""
    current = state()
    provider = current.provider()
    provider.service_provider(sp)  # unknown names raise UnknownServiceProviderError
    trust = current.trust[sp]
    acs = query_text("acs", trust.acs_urls[0])
    if acs not in trust.acs_urls:
        raise UnregisteredAcsError(
            f"{acs!r} is not a registered ACS of {sp!r} (registered: {', '.join(trust.acs_urls)})"
        )
    pending = PendingLogin(sp=sp, acs=acs, relay_state=query_text("RelayState", trust.relay_state))
    user_name = query_text("user")
    if user_name is None:
        return login_page(pending)
    user = provider.directory.user(user_name)
    if user.password is not None:
        return login_page(
            pending, typed=user.name, notice=f"{user.name} has a password: type it to sign in."
        )
    return sign_in(
        pending,
        user.name,
        authn_instant=current.now(),
        preview=request.args.get("preview", "0") in ("1", "true", "yes"),
    )


def receive(parameter: str) -> tuple[ReceivedMessage, Mapping[str, str]]:
    """Decode the message named ``parameter`` from the binding the request used."""
    if request.method == "GET":
        return decode_redirect(request.args, request.query_string, parameter), request.args
    if parameter not in request.form and parameter in request.args:
        raise WrongBindingError(
            f"the {parameter} came in the URL of a POST; HTTP-Redirect uses GET, HTTP-POST "
            "sends it as a form field"
        )
    return decode_post(request.form, parameter), request.form


def check_request_signature(
    message: ReceivedMessage, params: Mapping[str, str], trust: SpTrust, kind: str
) -> bool:
    """Verify a signed request; refuse an unsigned one when the SP must sign. Return signed."""
    if not is_signed(message, params):
        if trust.want_requests_signed:
            raise SignatureMissingError(
                f"service provider {trust.name!r} signs its requests (AuthnRequestsSigned / "
                f"want_authn_requests_signed) and this {kind} is unsigned"
            )
        return False
    if not trust.certificates:
        return False
    algorithms = set(STRONG_ALGORITHMS)
    if state().web.allow_sha1:
        algorithms.add(SignatureAlgorithm.RSA_SHA1)
    verify_signature(message, params, trust.certificates, algorithms=algorithms)
    return True


def check_destination(destination: str | None, endpoint: str, *, signed: bool) -> None:
    """Refuse a Destination that is not this IdP's ``endpoint`` URL, as its metadata
    publishes it (``base_url``, never the request's Host header), and a signed message
    without one (bindings §3.4.5.2, §3.5.5.2)."""
    configured = f"{state().provider().settings.base_url.rstrip('/')}/{endpoint}"
    if destination is None:
        if signed:
            raise WrongDestinationError(
                f"the message is signed and has no Destination; a signed message must name "
                f"the endpoint it is sent to ({configured})"
            )
        return
    if destination != configured:
        raise WrongDestinationError(
            f"the message's Destination {destination!r} is not this IdP's endpoint ({configured})"
        )


def choose_acs(authn: AuthnRequest, trust: SpTrust) -> str:
    """Return the registered ACS the request names (by URL or index), or the SP's default."""
    registered = ", ".join(trust.acs_urls)
    if authn.acs_url is not None:
        if authn.acs_url not in trust.acs_urls:
            raise UnregisteredAcsError(
                f"the AuthnRequest asks for the ACS {authn.acs_url!r}, which is not registered "
                f"for {trust.name!r} (registered: {registered}); the IdP never posts elsewhere"
            )
        return authn.acs_url
    if authn.acs_index is not None:
        if authn.acs_index not in trust.acs_indexes:
            raise UnregisteredAcsError(
                f"the AuthnRequest asks for ACS index {authn.acs_index}, which the metadata of "
                f"{trust.name!r} does not define"
            )
        return trust.acs_indexes[authn.acs_index]
    return trust.acs_urls[0]


def choose_name_id(
    provider: IdentityProvider,
    user: User,
    sp: ServiceProviderSettings,
    pending: PendingLogin,
) -> NameIdChoice:
    """Return the NameID for ``user``, honouring the request's NameIDPolicy.

    The default value and format come from the provider's own code path (the ADFS claim
    rules' NameID included), so the web sign-in sends what ``idp assertion`` and the API send.
    A transient NameID is a fresh random value for every assertion.
    """
    # Only the ADFS claim rules issue a NameID; mapping other users here could fail on what
    # the NameIDPolicy check below must answer (a user without an email, say).
    issued = (
        provider.rules_name_id(provider.map_user(user)) if provider.engine.name == "adfs" else None
    )
    default = NameIDFormat.from_short(
        sp.name_id_format
        or (issued[1] if issued is not None else None)
        or provider.settings.name_id.format
    )
    wanted = pending.name_id_format
    if wanted in (None, NameIDFormat.UNSPECIFIED, default):
        chosen = default
    elif wanted in (NameIDFormat.PERSISTENT, NameIDFormat.TRANSIENT):
        chosen = NameIDFormat(wanted)
    elif wanted == NameIDFormat.EMAIL:
        if not user.email:
            raise NameIdPolicyError(f"user {user.name!r} has no email for an emailAddress NameID")
        return NameIdChoice(user.email, NameIDFormat.EMAIL, _qualifier(pending))
    else:
        raise NameIdPolicyError(f"NameID format {wanted!r} is not supported")
    if chosen == default and issued is not None:  # as `idp assertion` and the API choose it
        value = issued[0]  # the claim rules' value, transient or not
    elif chosen == NameIDFormat.TRANSIENT:
        value = new_id()
    else:
        value = provider.name_id_for(user)
    return NameIdChoice(value, chosen, _qualifier(pending))


def _qualifier(pending: PendingLogin) -> str | None:
    """Return the SPNameQualifier to sign: none, or the requester's own entityID (checked when
    the request arrived; checked again here, where it is signed)."""
    if pending.sp_name_qualifier is None:
        return None
    trust = state().trust.get(pending.sp)
    problem = (
        sp_name_qualifier_problem(pending, trust) if trust is not None else "unknown requester"
    )
    if problem is not None:
        raise NameIdPolicyError(problem)
    return pending.sp_name_qualifier


def sign_in(
    pending: PendingLogin, user_name: str, *, authn_instant: dt.datetime, preview: bool
) -> Response:
    """Issue the response for ``user_name`` and post it (or show it first when ``preview``)."""
    current = state()
    provider = current.provider()
    user = provider.directory.user(user_name)
    try:
        name_id = choose_name_id(provider, user, provider.service_provider(pending.sp), pending)
    except NameIdPolicyError as exc:
        return status_response(pending, INVALID_NAME_ID_POLICY, exc.message)
    session_index = new_id()
    issued = provider.issue(
        user.name,
        sp=pending.sp,
        recipient=pending.acs,
        in_response_to=pending.request_id,
        now=current.now(),
        assertion_overrides={
            "name_id": name_id.value,
            "name_id_format": name_id.format,
            "sp_name_qualifier": name_id.sp_name_qualifier,
            "session_index": session_index,
            "authn_instant": authn_instant,
        },
    )
    remember_login(user.name, authn_instant)
    remember_participation(
        pending.sp,
        Participation(name_id.value, name_id.format, name_id.sp_name_qualifier, session_index),
    )
    if preview:
        return preview_page(pending, issued)
    return post_form(
        post_target(pending),
        {"SAMLResponse": issued.saml_response, "RelayState": pending.relay_state},
        title=f"Signing in to {pending.sp}",
        button="Continue",
    )


def post_target(pending: PendingLogin) -> str:
    """Return where the browser posts the response: the SP's ``post_to``, else the ACS."""
    trust = state().trust.get(pending.sp)
    return trust.post_to if trust is not None and trust.post_to else pending.acs


def status_response(pending: PendingLogin, second_level: str, message: str) -> Response:
    """Post a signed error Response (Requester + ``second_level``) to the ACS."""
    provider = state().provider()
    response = build_response(
        ResponseSpec(
            issuer=provider.settings.entity_id,
            issue_instant=state().now(),
            destination=pending.acs,
            in_response_to=pending.request_id,
            status=StatusCode.REQUESTER,
            status_message=message,
        )
    )
    top = response.find(f"{qname(NS.SAMLP, 'Status')}/{qname(NS.SAMLP, 'StatusCode')}")
    if top is not None:
        etree.SubElement(top, qname(NS.SAMLP, "StatusCode"), Value=second_level)
    sign_element(response, provider.signing_key)
    encoded = base64.b64encode(to_bytes(response)).decode()
    return post_form(
        post_target(pending),
        {"SAMLResponse": encoded, "RelayState": pending.relay_state},
        title=f"Returning to {pending.sp}",
        button="Continue",
    )


def login_page(
    pending: PendingLogin,
    *,
    typed: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """Render the login page: pick a user or type a name, with an optional password."""
    current = state()
    provider = current.provider()
    directory = provider.directory
    users = directory.users()
    listed = [
        {
            "name": u.name,
            "display_name": u.display_name or "",
            "email": u.email or "",
            "direct": u.direct_groups,
            # groups_of lists the direct groups first, then the inherited ones
            "inherited": directory.groups_of(u)[len(u.direct_groups) :],
            "password": u.password is not None,
        }
        for u in users[:USERS_LISTED]
    ]
    response = Response(
        render_template(
            "login.html",
            pending=pending,
            token=pending.token(),
            users=listed,
            hidden=max(0, len(users) - USERS_LISTED),
            typed=typed or "",
            error=error,
            notice=notice,
            service_providers=sorted(current.trust),
            preview=current.web.preview,
        ),
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def highlighted_lines(xml: bytes) -> list[tuple[str, bool]]:
    """Pretty-print ``xml``; flag the lines of AWS attributes (for the preview page)."""
    root = parse_xml(xml)
    for element in root.iter():  # a display copy: drop the signer's line breaks to re-indent
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    pretty = etree.tostring(root, pretty_print=True, encoding="unicode")
    lines: list[tuple[str, bool]] = []
    inside = False
    for line in pretty.splitlines():
        stripped = line.strip()
        if stripped.startswith("<saml:Attribute ") and f'Name="{AWS_ATTRIBUTE_PREFIX}' in line:
            inside = not stripped.endswith("/>")
            lines.append((line, True))
            continue
        lines.append((line, inside))
        if inside and stripped.startswith("</saml:Attribute>"):
            inside = False
    return lines


def preview_page(pending: PendingLogin, issued: IssuedResponse) -> Response:
    """Show the decoded response, AWS attributes highlighted, with a button that posts it."""
    attributes = [
        (a.name, a.values, a.name.startswith(AWS_ATTRIBUTE_PREFIX))
        for a in issued.mapping.attributes
    ]
    response = Response(
        render_template(
            "preview.html",
            pending=pending,
            issued=issued,
            attributes=attributes,
            action=post_target(pending),
            lines=highlighted_lines(issued.xml),
            fields={"SAMLResponse": issued.saml_response, "RelayState": pending.relay_state},
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response
