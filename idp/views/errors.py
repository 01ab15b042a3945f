"""Errors of the web IdP and how every error becomes a page or a JSON body, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from idp.directory import UnknownGroupError, UnknownUserError
from idp.errors import IdpError, UnknownServiceProviderError
from idp.provider import RoleNotGrantedError
from idp.saml.authn_request import (
    MessageTooLargeError,
    SamlMessageError,
    SignatureInvalidError,
    SignatureMissingError,
)

log = logging.getLogger("idp.web")


class WebError(IdpError):
    """Root of the errors only the web IdP raises; ``status`` is the HTTP status."""

    code = "web_error"
    status = 400


class UnknownRequesterError(WebError):
    """A request comes from an entityID that no registered service provider has."""

    code = "unknown_sp"
    status = 403


class UnregisteredAcsError(WebError):
    """A request asks for an ACS URL (or index) not registered for its SP."""

    code = "unregistered_acs"
    status = 403


class WrongPasswordError(WebError):
    """The user has a password and it was not given, or not this one."""

    code = "wrong_password"
    status = 401


class LoginExpiredError(WebError):
    """A login form's token is too old or was tampered with."""

    code = "login_expired"
    status = 400


class BadApiRequestError(WebError):
    """A JSON API request is not the expected JSON."""

    code = "bad_request"
    status = 400


class BadParameterError(WebError):
    """A query or form parameter holds characters that XML and UTF-8 cannot carry."""

    code = "bad_parameter"
    status = 400


class UnsupportedMediaError(WebError):
    """A JSON API request does not say ``Content-Type: application/json``."""

    code = "unsupported_media_type"
    status = 415


class WrongDestinationError(WebError):
    """A request's Destination is not this IdP's endpoint (SAML core §3.2.1)."""

    code = "wrong_destination"
    status = 400


class NoLogoutEndpointError(WebError):
    """A service provider asked for logout but has no SingleLogoutService URL registered."""

    code = "no_slo_url"
    status = 400


class ReplayCheckUnavailableError(WebError):
    """The replay memory shared by the worker processes failed: the request is refused, not
    accepted unchecked (fail closed)."""

    code = "replay_check_unavailable"
    status = 503


def status_of(error: IdpError) -> int:
    """Return the HTTP status an IdP error answers with."""
    if isinstance(error, WebError):
        return error.status
    if isinstance(error, UnknownUserError | UnknownGroupError | UnknownServiceProviderError):
        return 404
    if isinstance(error, SignatureMissingError | SignatureInvalidError | RoleNotGrantedError):
        return 403
    if isinstance(error, MessageTooLargeError):
        return 413
    if isinstance(error, SamlMessageError):
        return 400
    return 422


def wants_json() -> bool:
    """Tell whether the client should get JSON: the API, or an Accept header preferring it."""
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > (request.accept_mimetypes["text/html"])
    )


def _request_ctx_has_no_urls() -> bool:
    return not request_ctx or request_ctx.url_adapter is None


def error_response(status: int, code: str, message: str) -> Response:
    """Return the error as JSON or as an HTML page, as the client wants."""
    title = HTTP_STATUS_CODES.get(status, "Error")
    if wants_json():
        response = jsonify(error={"code": code, "message": message, "status": status})
    elif _request_ctx_has_no_urls():
        # A Host header werkzeug cannot route (too long, bad characters) leaves no URL adapter,
        # and the page's links need one: answer in plain text.
        response = Response(f"{status} {title}: {message}\n", mimetype="text/plain")
    else:
        response = Response(
            render_template("error.html", status=status, title=title, code=code, message=message)
        )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask, unexpected: list[BaseException]) -> None:
    """Install the handlers; unexpected exceptions are also appended to ``unexpected``."""

    @app.errorhandler(IdpError)
    def idp_error(error: IdpError) -> Response:
        return error_response(status_of(error), error.code, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(status, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        unexpected.append(error)
        return error_response(
            500, "internal_error", "the IdP failed unexpectedly; the server log has the details"
        )
