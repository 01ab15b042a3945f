"""``fedharness sts serve``: moto's server with the strict AssumeRoleWithSAML in front.

A WSGI layer: AssumeRoleWithSAML (query protocol, in the body or the query string) is answered by
:class:`~sp_fixtures.aws.sts.StrictSts` in AWS's XML; every other request — IAM, STS's other
calls, S3, … — goes to moto untouched, so users provision with boto3, the AWS CLI or Terraform.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.sts import StrictSts
from sp_fixtures.aws.wire import error_xml, parse_query, success_xml

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 1_000_000
"""Larger bodies are refused before parsing (an assertion is at most 100,000 characters)."""


class InternalFailure(StsError):
    """An unexpected failure in the strict layer (never a traceback to the client)."""

    code = "InternalFailure"
    status = 500


class RequestTooLarge(StsError):
    """The request body is larger than any valid STS call."""

    code = "ValidationError"
    status = 400
    sender_fault = True


def moto_app() -> WsgiApp:
    """Return moto's own server application (all services)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return app


class StrictStsApp:
    """WSGI app: strict AssumeRoleWithSAML, everything else to ``fallback`` (moto)."""

    def __init__(self, sts: StrictSts, fallback: WsgiApp | None = None) -> None:
        self.sts = sts
        self.fallback = fallback or moto_app()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request."""
        query = parse_qs(environ.get("QUERY_STRING", ""))
        body = b""
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                return self._reply(
                    start_response, error_xml(RequestTooLarge("Request body too large")), 400
                )
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        params = parse_query(body) if _is_form(environ) else {}
        action = params.get("Action") or (query.get("Action") or [None])[-1]
        if action != "AssumeRoleWithSAML":
            return self.fallback(environ, start_response)
        if not params:
            params = {k: v[-1] for k, v in query.items()}
        try:
            return self._reply(
                start_response, success_xml(self.sts.assume_role_with_saml(**params)), 200
            )
        except StsError as error:
            return self._reply(start_response, error_xml(error), error.status)
        except Exception:  # a bug of ours must still answer like AWS, never a 500 traceback
            log.exception("strict STS failed")
            return self._reply(
                start_response,
                error_xml(InternalFailure("We encountered an internal error. Please try again.")),
                500,
            )

    @staticmethod
    def _reply(start_response: Callable[..., Any], payload: bytes, status: int) -> Iterable[bytes]:
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _is_form(environ: dict[str, Any]) -> bool:
    content_type = str(environ.get("CONTENT_TYPE", ""))
    return environ.get("REQUEST_METHOD") == "POST" and (
        not content_type or content_type.startswith("application/x-www-form-urlencoded")
    )


@dataclass
class RunningServer:
    """A strict STS server running in a background thread."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Return the endpoint URL to give boto3 or the AWS CLI."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def serve_in_thread(app: WsgiApp, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) from a daemon thread."""
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fedharness-sts", daemon=True)
    thread.start()
    return RunningServer(server, thread)
