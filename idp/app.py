"""The web IdP: ``create_app(config)`` builds the Flask app; ``serve_in_thread`` serves it.

Nothing here reads the environment or the clock at import time: everything comes in through
:class:`WebConfig`, usually made by :meth:`WebConfig.from_file` from an IdP or scenario file.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, request
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server

from idp.config import IdpFile, IdpSettings
from idp.directory import Directory
from idp.errors import IdpError
from idp.provider import IdentityProvider
from idp.views import api, login, metadata, slo, sso
from idp.views.common import EXTENSION, WebState
from idp.views.directory_state import DirectoryState
from idp.views.errors import register as register_error_handlers
from idp.views.replay_memory import replay_memory
from idp.web_settings import WEB_AT, SpTrust, WebSettings, load_web_settings, resolve_trust
from idp.yamlfile import LoadedYaml, load_yaml, validate

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (HTTP 413 beyond)."""
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Forms post SAML messages to SPs anywhere, so form-action stays open; nothing else is.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self'; form-action 'self' http: https:; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def utc_now() -> dt.datetime:
    """Return the current UTC time (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebConfig:
    """Everything ``create_app`` needs: the provider, the web settings and the run-time knobs."""

    provider: IdentityProvider
    web: WebSettings = field(default_factory=WebSettings)
    trust: Mapping[str, SpTrust] | None = None
    """Resolved SP trust; resolved from ``provider`` and ``web`` when None."""
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Signs the session cookie and login tokens; random per start unless given."""
    clock: Callable[[], dt.datetime] = utc_now
    shared_state: Path | None = None
    """File that shares run-time group changes between worker processes (gunicorn); the replay
    memory they share (``replays.sqlite3``) goes in the same directory."""
    any_host: bool = False
    """Serve requests whatever their Host header. Off, only loopback names and the host of
    ``base_url`` are served: a web page whose name an attacker re-points at 127.0.0.1 (DNS
    rebinding) would otherwise be same-origin with the IdP and could mint signed assertions."""

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        base_url: str | None = None,
        shared_state: Path | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> WebConfig:
        """Load an IdP or scenario file and its ``idp.web`` settings (``file:line`` errors).

        ``base_url`` replaces ``idp.base_url`` (the URLs published in metadata).
        """
        loaded = load_yaml(path)
        config = validate(IdpFile, _without_web(loaded))
        settings = config.idp
        web = load_web_settings(loaded, settings)
        if base_url is not None:
            settings = settings.model_copy(update={"base_url": base_url})
        base_dir = path.parent
        directory = Directory.from_config(config.directory, base_dir)
        try:
            provider = IdentityProvider(settings, directory, base_dir=base_dir)
            trust = resolve_trust(settings, web, base_dir)
        except IdpError as exc:
            raise IdpError(f"{path}: {exc.message}") from None
        return cls(provider=provider, web=web, trust=trust, shared_state=shared_state, clock=clock)

    def with_base_url(self, base_url: str) -> WebConfig:
        """Return this config serving its metadata and endpoints under ``base_url``."""
        provider = copy.copy(self.provider)
        provider.settings = self.provider.settings.model_copy(update={"base_url": base_url})
        return dataclasses.replace(self, provider=provider)


def _without_web(loaded: LoadedYaml) -> LoadedYaml:
    """Hide ``idp.web`` from IdpSettings while it does not know the key (it forbids extras)."""
    data = loaded.data
    if "web" in IdpSettings.model_fields or not isinstance(data, dict):
        return loaded
    idp_part = data.get(WEB_AT[0])
    if not isinstance(idp_part, dict) or WEB_AT[1] not in idp_part:
        return loaded
    stripped = {**data, WEB_AT[0]: {k: v for k, v in idp_part.items() if k != WEB_AT[1]}}
    return dataclasses.replace(loaded, data=stripped)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def trusted_hosts(base_url: str | None) -> frozenset[str]:
    """Return the Host names the IdP answers: loopback ones and the host of ``base_url``."""
    host = urlsplit(base_url).hostname if base_url else None
    return LOOPBACK_HOSTS | {host} if host else LOOPBACK_HOSTS


def host_name(host_header: str) -> str | None:
    """Return the lower-cased name of a ``Host`` header (port and IPv6 brackets removed)."""
    try:
        return urlsplit(f"//{host_header}").hostname
    except ValueError:
        return None


def create_app(config: WebConfig) -> Flask:
    """Build the web IdP for ``config``: one blueprint per area, Jinja templates, JSON errors."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_NAME="fedharness_idp",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=config.web.session_lifetime),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    trust = (
        config.trust
        if config.trust is not None
        else resolve_trust(config.provider.settings, config.web, config.provider.base_dir)
    )
    state = WebState(
        directory=DirectoryState(config.provider, shared_file=config.shared_state),
        web=config.web,
        trust=trust,
        clock=config.clock,
        serializer=URLSafeTimedSerializer(config.secret_key),
        seen=replay_memory(config.shared_state, "request_ids"),
        used_logins=replay_memory(config.shared_state, "login_nonces"),
    )
    app.extensions[EXTENSION] = state
    for blueprint in (metadata.bp, sso.bp, login.bp, api.bp, slo.bp):
        app.register_blueprint(blueprint)
    register_error_handlers(app, state.unexpected)

    allowed_hosts = None if config.any_host else trusted_hosts(config.provider.settings.base_url)

    @app.before_request
    def refuse_other_hosts() -> None:
        if allowed_hosts is not None and host_name(request.host) not in allowed_hosts:
            raise BadRequest(
                f"Host {request.host!r} is not served here (DNS rebinding protection): use "
                f"{' or '.join(sorted(allowed_hosts))}, or serve with --allow-remote"
            )

    @app.before_request
    def refuse_large_bodies() -> None:
        # MAX_CONTENT_LENGTH applies when a view reads the body; refuse it even when none does
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


@dataclass
class RunningIdp:
    """A web IdP served from a thread: its URL, app and server."""

    url: str
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def state(self) -> WebState:
        """Return the app's state (directory, trust, unexpected errors)."""
        found: WebState = self.app.extensions[EXTENSION]
        return found

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def bind(host: str, port: int) -> socket.socket:
    """Return a listening socket on ``host:port`` (0 picks a free port); OSError when busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def url_of(listener: socket.socket) -> str:
    """Return ``http://host:port`` of a bound socket."""
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_in_thread(
    config: WebConfig, *, host: str = "127.0.0.1", port: int = 0, base_url: str | None = None
) -> RunningIdp:
    """Serve ``create_app(config)`` from a daemon thread; metadata says the real URL."""
    listener = bind(host, port)
    try:
        url = url_of(listener)
        app = create_app(config.with_base_url(base_url or url))
        server = make_server(
            host, listener.getsockname()[1], app, threaded=True, fd=listener.fileno()
        )
    finally:
        listener.close()  # werkzeug keeps its own duplicate of the descriptor
    thread = threading.Thread(target=server.serve_forever, name="fedharness-idp", daemon=True)
    thread.start()
    return RunningIdp(url=url, app=app, server=server, thread=thread)
