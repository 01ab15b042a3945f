"""Tiny service providers on loopback for the runner and CLI tests: a careful one and a naive one.

``CarefulSp`` verifies with :func:`sp_fixtures.verify.verify_response` and then checks what the
verifier leaves to the SP (audience, recipient, times, replay); it accepts SHA-1 unless told not
to, so that runs against it show the runner's policy verdict. ``NaiveSp`` trusts whatever NameID
it finds first — so the runner has something to report.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from sp_fixtures.verify import TrustedIdp, VerificationError, VerifiedResponse, verify_response

SKEW = dt.timedelta(seconds=60)
MAX_AGE = dt.timedelta(minutes=5)


def _respond(
    start_response: Callable[..., Any], status: str, body: str, cookie: str | None = None
) -> Iterable[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    if cookie is not None:
        headers.append(("Set-Cookie", f"session={cookie}; Path=/; HttpOnly"))
    start_response(status, headers)
    return [body.encode("utf-8")]


def _saml_response(environ: dict[str, Any]) -> bytes | None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    form = parse_qs(environ["wsgi.input"].read(length).decode("ascii", "replace"))
    values = form.get("SAMLResponse")
    if not values:
        return None
    try:
        return base64.b64decode(values[0], validate=True)
    except ValueError:
        return None


class CarefulSp:
    """Accept a response only if verified and meant for us, now, once (200 + cookie)."""

    def __init__(
        self,
        trusted: TrustedIdp,
        audience: str,
        *,
        refuse_replays: bool = True,
        allow_sha1: bool = True,
    ) -> None:
        self.trusted = trusted
        self.audience = audience
        self.allow_sha1 = allow_sha1
        """Accept RSA-SHA1/SHA-1 (an SP that opted in: the runner reports a policy, no finding)."""
        self.acs_url = ""
        """Set once the server is listening."""
        self.refuse_replays = refuse_replays
        self.seen: set[str] = set()
        self.logins: list[str] = []

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        document = _saml_response(environ)
        if document is None:
            return _respond(start_response, "400 Bad Request", "no SAMLResponse")
        try:
            verified = verify_response(document, self.trusted, allow_sha1=self.allow_sha1)
        except VerificationError as exc:
            return _respond(start_response, "403 Forbidden", f"refused: {exc.code}")
        problem = self.problem(verified, dt.datetime.now(dt.UTC))
        if problem is not None:
            return _respond(start_response, "403 Forbidden", f"refused: {problem}")
        self.seen.add(verified.assertion_id)
        self.logins.append(verified.name_id or "")
        return _respond(
            start_response, "200 OK", f"Welcome {verified.name_id}", cookie=verified.name_id
        )

    def problem(self, verified: VerifiedResponse, now: dt.datetime) -> str | None:
        """Return why the SP refuses a verified response, or None."""
        conditions = verified.conditions
        if (
            conditions is None
            or not conditions.audience_restrictions
            or not all(self.audience in group for group in conditions.audience_restrictions)
        ):
            return "audience"
        if len(verified.subject_confirmations) != 1:
            return "subject confirmation"
        confirmation = verified.subject_confirmations[0]
        if (
            confirmation.method != "urn:oasis:names:tc:SAML:2.0:cm:bearer"
            or (confirmation.recipient != self.acs_url)
            or confirmation.not_on_or_after is None
        ):
            return "recipient"
        ends = [confirmation.not_on_or_after, conditions.not_on_or_after]
        if verified.authn is not None and verified.authn.session_not_on_or_after is not None:
            ends.append(verified.authn.session_not_on_or_after)
        if any(end is not None and now >= end + SKEW for end in ends):
            return "expired"
        starts = [conditions.not_before, verified.issue_instant]
        if any(start is not None and start > now + SKEW for start in starts):
            return "not yet valid"
        if now - verified.issue_instant > MAX_AGE:
            return "too old"
        if self.refuse_replays and verified.assertion_id in self.seen:
            return "replay"
        return None


class NaiveSp:
    """Log in whoever the first NameID names, without checking anything (200)."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        document = _saml_response(environ)
        found = re.search(rb"<saml:NameID[^>]*>([^<]*)", document or b"")
        if found is None:
            return _respond(start_response, "403 Forbidden", "no NameID")
        name = found.group(1).decode("utf-8", "replace")
        self.logins.append(name)
        return _respond(start_response, "200 OK", f"Welcome {name}", cookie=name)
