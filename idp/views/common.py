"""What every view shares: the app's state, login sessions and the auto-submitting form."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, overload

from flask import Response, current_app, render_template, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from idp.provider import IdentityProvider
from idp.views.directory_state import DirectoryState
from idp.views.errors import (
    BadParameterError,
    LoginExpiredError,
    UnknownRequesterError,
    WebError,
)
from idp.views.replay_memory import ReplayMemory, SeenIds
from idp.views.xml_text import xml_text_problem
from idp.web_settings import SpTrust, WebSettings

EXTENSION = "fedharness_idp"
"""Key of the state in ``app.extensions``."""
SESSION_KEY = "idp"
LOGIN_NONCES_KEY = "login_nonces"
"""Session key of the nonces of the login forms this browser was shown and has not used."""
LOGIN_NONCES_KEPT = 8
"""Most open login forms one browser session keeps usable (the oldest is dropped)."""


class ReplayedRequestError(WebError):
    """A request ID (or a login form) was already used."""

    code = "replayed_request"
    status = 400


@dataclass
class WebState:
    """Everything the views need, created once per app by ``create_app``."""

    directory: DirectoryState
    web: WebSettings
    trust: Mapping[str, SpTrust]
    clock: Callable[[], dt.datetime]
    serializer: URLSafeTimedSerializer
    unexpected: list[BaseException] = field(default_factory=list)
    """Exceptions that became a 500 page (the test fixture re-raises them)."""
    seen: ReplayMemory = field(default_factory=SeenIds)
    """Request IDs already used: in this process, or shared by every worker process of the
    server (``replay_memory``)."""
    used_logins: ReplayMemory = field(default_factory=SeenIds)
    """Login nonces already used (a window of their own), kept where ``seen`` is."""

    def provider(self) -> IdentityProvider:
        """Return the provider with every run-time directory change."""
        return self.directory.provider()

    def now(self) -> dt.datetime:
        """Return the current time from the injected clock."""
        return self.clock()

    def refuse_replay(self, issuer: str | None, request_id: str, kind: str) -> None:
        """Remember a request's ID; raise ReplayedRequestError when it was already seen.

        IDs are kept for as long as the request could still be accepted (its maximum age plus
        the allowed clock skew), where every worker process of the server sees them; raise
        ReplayCheckUnavailableError when that memory fails.
        """
        now = self.now()
        window = dt.timedelta(seconds=self.web.request_max_age + 2 * self.web.clock_skew)
        if not self.seen.first_use(
            f"{kind}\0{issuer}\0{request_id}", now=now, keep_until=now + window
        ):
            raise ReplayedRequestError(
                f"this {kind} (ID {request_id!r} from {issuer!r}) was already received; a "
                "service provider must send a fresh request with a new ID"
            )

    def sp_by_entity_id(self, entity_id: str | None) -> SpTrust:
        """Return the SP whose entityID issued a request, or raise UnknownRequesterError."""
        for trust in self.trust.values():
            if entity_id is not None and trust.entity_id == entity_id:
                return trust
        known = ", ".join(sorted(t.entity_id for t in self.trust.values() if t.entity_id))
        raise UnknownRequesterError(
            f"no registered service provider has the entityID {entity_id!r} "
            f"(known: {known or 'none; set idp.web.service_providers.NAME.entity_id'})"
        )


def state() -> WebState:
    """Return the state of the app serving this request."""
    found: WebState = current_app.extensions[EXTENSION]
    return found


def checked_text(name: str, value: str | None) -> str | None:
    """Return ``value`` of the parameter ``name``; refuse one that is not XML text (400)."""
    if value is not None and (problem := xml_text_problem(value)) is not None:
        raise BadParameterError(f"{name}: {problem}")
    return value


@overload
def query_text(name: str, default: str) -> str: ...


@overload
def query_text(name: str, default: str | None = None) -> str | None: ...


def query_text(name: str, default: str | None = None) -> str | None:
    """Return the query parameter ``name`` (or ``default``), refusing text XML cannot carry."""
    return checked_text(name, request.args.get(name, default))


@dataclass(frozen=True)
class PendingLogin:
    """A sign-in waiting for the user to log in: where the response goes, and for what."""

    sp: str
    acs: str
    relay_state: str | None = None
    request_id: str | None = None
    """The AuthnRequest's ID (InResponseTo); None for IdP-initiated sign-in."""
    name_id_format: str | None = None
    sp_name_qualifier: str | None = None
    force_authn: bool = False
    request_signed: bool = False

    def token(self) -> str:
        """Return the signed token a login form carries: usable once, from this browser only.

        A fresh nonce goes into the token and into the browser's session; reading the token
        back needs both, and uses the nonce up.
        """
        nonce = secrets.token_urlsafe(16)
        nonces = [n for n in session.get(LOGIN_NONCES_KEY, []) if isinstance(n, str)]
        session[LOGIN_NONCES_KEY] = [*nonces, nonce][-LOGIN_NONCES_KEPT:]
        return str(state().serializer.dumps({**asdict(self), "nonce": nonce}, salt="login"))

    @classmethod
    def from_token(cls, token: str) -> PendingLogin:
        """Read a token and use it up; an old, altered, used or foreign one raises
        LoginExpiredError."""
        current = state()
        try:
            fields = current.serializer.loads(
                token, salt="login", max_age=current.web.login_timeout
            )
        except SignatureExpired:
            raise LoginExpiredError(
                "this login page has expired; start the sign-in again from the service provider"
            ) from None
        except BadSignature:
            raise LoginExpiredError(
                "this login form was altered or comes from another IdP instance; start the "
                "sign-in again"
            ) from None
        nonce = fields.pop("nonce", None)
        nonces = session.get(LOGIN_NONCES_KEY, [])
        if not isinstance(nonce, str) or not isinstance(nonces, list) or nonce not in nonces:
            raise LoginExpiredError(
                "this login form was already used, or was shown to another browser; start the "
                "sign-in again"
            )
        session[LOGIN_NONCES_KEY] = [n for n in nonces if n != nonce]
        now = current.now()
        keep_until = now + dt.timedelta(seconds=current.web.login_timeout)
        # the session cookie lives in the browser: an old copy of it still lists the nonce
        if not current.used_logins.first_use(nonce, now=now, keep_until=keep_until):
            raise LoginExpiredError("this login form was already used; start the sign-in again")
        return cls(**fields)


@dataclass(frozen=True)
class Participation:
    """How a user is known to one SP in the current IdP session (for single logout)."""

    name_id: str
    name_id_format: str | None
    sp_name_qualifier: str | None
    session_index: str


def signed_in_user() -> tuple[str, dt.datetime] | None:
    """Return the user of the IdP session and when they logged in, if it is still valid."""
    current = session.get(SESSION_KEY)
    if not isinstance(current, dict) or "user" not in current:
        return None
    at = dt.datetime.fromisoformat(current["at"])
    if state().now() - at > dt.timedelta(seconds=state().web.session_lifetime):
        session.pop(SESSION_KEY, None)
        return None
    return str(current["user"]), at


def remember_login(user: str, at: dt.datetime) -> None:
    """Start (or restart) the IdP session for ``user``."""
    previous = session.get(SESSION_KEY)
    keep = isinstance(previous, dict) and previous.get("user") == user
    session[SESSION_KEY] = {
        "user": user,
        "at": at.isoformat(),
        "sps": previous.get("sps", {}) if keep and previous else {},
    }
    session.permanent = True


def remember_participation(sp: str, participation: Participation) -> None:
    """Record that the session's user was signed in to ``sp``."""
    current = session.get(SESSION_KEY)
    if isinstance(current, dict):
        current.setdefault("sps", {})[sp] = asdict(participation)
        session.modified = True


def participations() -> dict[str, Participation]:
    """Return the SPs the session's user is signed in to."""
    current = session.get(SESSION_KEY)
    if not isinstance(current, dict):
        return {}
    return {sp: Participation(**fields) for sp, fields in current.get("sps", {}).items()}


def post_form(
    action: str, fields: Mapping[str, str | None], *, title: str, button: str
) -> Response:
    """Return a page whose form posts ``fields`` to ``action``: by script, or by its button."""
    response = Response(
        render_template(
            "post_form.html",
            action=action,
            title=title,
            button=button,
            fields={k: v for k, v in fields.items() if v is not None},
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def json_ready(value: Any) -> Any:
    """Turn tuples into lists, recursively, for JSON answers."""
    if isinstance(value, tuple | list):
        return [json_ready(v) for v in value]
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    return value
