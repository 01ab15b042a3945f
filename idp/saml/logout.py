"""Single logout: build, sign and read ``LogoutRequest`` and ``LogoutResponse`` messages.

Outgoing messages are signed with the IdP's key: enveloped for HTTP-POST, in the query string
(``SigAlg`` + ``Signature``) for HTTP-Redirect. Incoming ones are decoded and verified with
:mod:`idp.saml.authn_request`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from idp.saml.authn_request import (
    MalformedMessageError,
    check_envelope,
    parse_time,
)
from idp.saml.builder import new_id, saml_time, to_bytes
from idp.saml.constants import NS, SignatureAlgorithm, StatusCode, qname
from idp.saml.keys import KeyPair
from idp.saml.signing import sign_element

PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
"""Second-level status: logout could not reach every other session participant."""
UNKNOWN_PRINCIPAL = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
"""Second-level status: the responder does not know the principal (or session) named."""

_HASHES: dict[SignatureAlgorithm, type[hashes.HashAlgorithm]] = {
    SignatureAlgorithm.RSA_SHA1: hashes.SHA1,  # noqa: S303 - only when configured
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256,
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512,
}


@dataclass(frozen=True)
class LogoutRequest:
    """A ``samlp:LogoutRequest``: whose session ends, and which sessions."""

    request_id: str
    issuer: str | None
    issue_instant: dt.datetime
    name_id: str
    name_id_format: str | None = None
    sp_name_qualifier: str | None = None
    session_indexes: tuple[str, ...] = ()
    destination: str | None = None
    not_on_or_after: dt.datetime | None = None


@dataclass(frozen=True)
class LogoutResponse:
    """A ``samlp:LogoutResponse``: the answer to a LogoutRequest."""

    response_id: str
    issuer: str | None
    issue_instant: dt.datetime
    in_response_to: str | None
    status: str
    destination: str | None = None

    @property
    def succeeded(self) -> bool:
        """Return whether the top-level status is Success."""
        return self.status == StatusCode.SUCCESS


def _sub(
    parent: etree._Element, ns: NS, local: str, text: str | None = None, **attrs: str | None
) -> etree._Element:
    element = etree.SubElement(parent, qname(ns, local))
    for key, value in attrs.items():
        if value is not None:
            element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _envelope(
    local: str, *, message_id: str, now: dt.datetime, destination: str | None
) -> etree._Element:
    root = etree.Element(qname(NS.SAMLP, local), nsmap={"samlp": NS.SAMLP, "saml": NS.SAML})
    root.set("ID", message_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", saml_time(now))
    if destination is not None:
        root.set("Destination", destination)
    return root


def build_logout_request(request: LogoutRequest) -> etree._Element:
    """Build a ``samlp:LogoutRequest`` from ``request``."""
    root = _envelope(
        "LogoutRequest",
        message_id=request.request_id,
        now=request.issue_instant,
        destination=request.destination,
    )
    if request.not_on_or_after is not None:
        root.set("NotOnOrAfter", saml_time(request.not_on_or_after))
    if request.issuer is not None:
        _sub(root, NS.SAML, "Issuer", request.issuer)
    _sub(
        root,
        NS.SAML,
        "NameID",
        request.name_id,
        Format=request.name_id_format,
        SPNameQualifier=request.sp_name_qualifier,
    )
    for index in request.session_indexes:
        _sub(root, NS.SAMLP, "SessionIndex", index)
    return root


def build_logout_response(
    *,
    issuer: str,
    in_response_to: str | None,
    now: dt.datetime,
    destination: str | None,
    status: str = StatusCode.SUCCESS,
    second_level: str | None = None,
    message: str | None = None,
) -> etree._Element:
    """Build a ``samlp:LogoutResponse`` answering ``in_response_to``; ``second_level`` is a
    status code nested in the top-level one (for example PartialLogout)."""
    root = _envelope("LogoutResponse", message_id=new_id(), now=now, destination=destination)
    if in_response_to is not None:
        root.set("InResponseTo", in_response_to)
    _sub(root, NS.SAML, "Issuer", issuer)
    status_element = _sub(root, NS.SAMLP, "Status")
    top = _sub(status_element, NS.SAMLP, "StatusCode", Value=status)
    if second_level is not None:
        _sub(top, NS.SAMLP, "StatusCode", Value=second_level)
    if message is not None:
        _sub(status_element, NS.SAMLP, "StatusMessage", message)
    return root


def new_logout_request(
    *,
    issuer: str,
    destination: str,
    name_id: str,
    name_id_format: str | None,
    session_index: str | None,
    sp_name_qualifier: str | None,
    now: dt.datetime,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
) -> LogoutRequest:
    """Return a LogoutRequest the IdP sends to an SP, with a fresh ID."""
    return LogoutRequest(
        request_id=new_id(),
        issuer=issuer,
        issue_instant=now,
        name_id=name_id,
        name_id_format=name_id_format,
        sp_name_qualifier=sp_name_qualifier,
        session_indexes=(session_index,) if session_index else (),
        destination=destination,
        not_on_or_after=now + lifetime,
    )


def parse_logout_request(root: etree._Element) -> LogoutRequest:
    """Read a parsed ``samlp:LogoutRequest``."""
    request_id, issuer, issue_instant = check_envelope(root, "LogoutRequest")
    name_id = root.find(qname(NS.SAML, "NameID"))
    if name_id is None:
        if root.find(qname(NS.SAML, "EncryptedID")) is not None:
            raise MalformedMessageError("encrypted NameIDs in a LogoutRequest are not supported")
        raise MalformedMessageError("the LogoutRequest has no NameID")
    not_on_or_after = root.get("NotOnOrAfter")
    return LogoutRequest(
        request_id=request_id,
        issuer=issuer,
        issue_instant=issue_instant,
        name_id=(name_id.text or "").strip(),
        name_id_format=name_id.get("Format"),
        sp_name_qualifier=name_id.get("SPNameQualifier"),
        session_indexes=tuple(
            (e.text or "").strip() for e in root.iterfind(qname(NS.SAMLP, "SessionIndex"))
        ),
        destination=root.get("Destination"),
        not_on_or_after=(
            parse_time(not_on_or_after, what="LogoutRequest NotOnOrAfter")
            if not_on_or_after
            else None
        ),
    )


def parse_logout_response(root: etree._Element) -> LogoutResponse:
    """Read a parsed ``samlp:LogoutResponse``."""
    response_id, issuer, issue_instant = check_envelope(root, "LogoutResponse")
    code = root.find(f"{qname(NS.SAMLP, 'Status')}/{qname(NS.SAMLP, 'StatusCode')}")
    if code is None or not code.get("Value"):
        raise MalformedMessageError("the LogoutResponse has no Status/StatusCode")
    return LogoutResponse(
        response_id=response_id,
        issuer=issuer,
        issue_instant=issue_instant,
        in_response_to=root.get("InResponseTo"),
        status=code.get("Value", ""),
        destination=root.get("Destination"),
    )


def post_value(
    element: etree._Element,
    key: KeyPair,
    *,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
) -> str:
    """Sign ``element`` (enveloped) and return it base64-encoded for an HTTP-POST form."""
    sign_element(element, key, algorithm=algorithm)
    return base64.b64encode(to_bytes(element)).decode("ascii")


def redirect_url(
    location: str,
    parameter: str,
    element: etree._Element,
    *,
    key: KeyPair,
    relay_state: str | None = None,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
) -> str:
    """Return ``location`` with the message deflated, base64-encoded and signed in the query."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(etree.tostring(element)) + compressor.flush()
    fields = [(parameter, base64.b64encode(deflated).decode("ascii"))]
    if relay_state is not None:
        fields.append(("RelayState", relay_state))
    fields.append(("SigAlg", algorithm.value))
    query = urlencode(fields, quote_via=quote)
    signature = _private_key(key.key_pem).sign(
        query.encode("ascii"), padding.PKCS1v15(), _HASHES[algorithm]()
    )
    query += "&Signature=" + quote(base64.b64encode(signature).decode("ascii"), safe="")
    return f"{location}{'&' if '?' in location else '?'}{query}"


@functools.lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the IdP signing key must be RSA")
    return key
