"""``fedharness sts serve``: moto's server with the strict AssumeRoleWithSAML in front.

A WSGI layer. Any request moto could run as AssumeRoleWithSAML — the action in the body, the
query string, an ``Action`` or ``X-Amz-Target`` header — is answered by
:class:`~sp_fixtures.aws.sts.StrictSts` in AWS's XML, and malformed ones are refused with an
``ErrorResponse``, never a 500. Everything else — IAM, STS's other calls, S3, … — goes to moto,
so users provision with boto3, the AWS CLI or Terraform. IAM's SAML-provider calls pass through
too, and :mod:`~sp_fixtures.aws.saml_provider_calls` keeps in a
:class:`~sp_fixtures.aws.iam_view.ProviderExtras` what moto drops
(``AssertionEncryptionMode``, private keys, tags; aws-sts-saml.md §5.1), keeps moto from erasing
a provider's metadata on an update without one, and answers the tag calls moto lacks.

It is an STS and IAM endpoint, and refuses what neither would take (each in AWS's
``ErrorResponse``, IAM's namespace for IAM calls, never a 500):

- an ``Authorization`` header that is not a SigV4 ``AWS4-HMAC-SHA256 Credential=<key>/<date>/
  <region>/<service>/aws4_request, SignedHeaders=…, Signature=…`` (nor S3's SigV2
  ``AWS <key>:<signature>``): 400 ``IncompleteSignature``. This holds for AssumeRoleWithSAML too,
  although AWS takes that call unsigned (``smithy.api#noAuth``, aws-sts-saml.md §0): what AWS does
  with a malformed header on it is not documented, so the layer fails closed and refuses it. A
  well-formed signature on AssumeRoleWithSAML is ignored (moto accepts any key, so it could not
  be checked anyway); the SAML response alone authenticates the call;
- a body it cannot read (a broken ``Transfer-Encoding: chunked``): 400 ``InvalidQueryParameter``;
- a request that names no action moto can route — unsigned, with no ``Action``, no
  ``X-Amz-Target`` and no path moto routes on: moto would answer it as S3's ListBuckets —:
  400 ``MissingAction`` ("Missing Action"); the same request naming an STS or IAM action that
  needs a signature: 403 ``MissingAuthenticationToken``; naming any other action: 400
  ``InvalidAction``. S3 requests signed for S3 (header or presigned URL), ``/moto-api`` and the
  unsigned requests moto routes elsewhere (Cognito's unsigned calls, by ``X-Amz-Target``) still
  reach moto. moto reads signatures from the ``Authorization`` header only, so a presigned STS
  or IAM URL, which moto would hand to S3, is refused as unsigned;
- an STS or IAM request (signed for ``sts``/``iam``, or unsigned AssumeRoleWithWebIdentity)
  with no ``Action`` (``MissingAction``), an action the service does not have (``InvalidAction``,
  "Could not find operation Nope for version 2010-05-08"), a body that is not a form
  (``InvalidQueryParameter``) or a required parameter missing (``ValidationError``, AWS's
  "Value null at 'roleName' failed to satisfy constraint: Member must not be null"), per
  botocore's service models;
- IAM's CreateRole / UpdateAssumeRolePolicy with a trust policy IAM would refuse
  (:mod:`~sp_fixtures.aws.iam_role_calls`);
- and whatever moto still fails on (an exception, or an HTTP 5xx) for an STS or IAM call:
  400 ``ValidationError`` saying so, or 400 ``InvalidAction`` for an operation moto does not
  implement, instead of moto's HTML 500 page.

Credentials from AssumeRoleWithSAML cannot call ``GetFederationToken`` or ``GetSessionToken``
(aws-sts-saml.md §1.2), but moto mints ordinary keys that can: the app remembers the access key
ids it issued and refuses those two calls signed with one of them
(:func:`session_credentials_refused`).

Accounts: moto takes a request's account from ``MOTO_ACCOUNT_ID`` (server-wide), else the
``x-moto-account-id`` header, else the account owning the access key that signed the request
(IAM users' keys, and credentials minted for a role), else 123456789012
(``moto/core/responses.py: get_current_account``). The AWS CLI cannot add a header, so this layer
also reads the account from an endpoint path ``/_account/<12 digits>``:
``aws --endpoint-url http://127.0.0.1:5000/_account/111111111111 iam list-roles``.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_to_bytes

from sp_fixtures.aws.errors import (
    AccessDenied,
    IncompleteSignature,
    InternalFailure,
    InvalidAction,
    InvalidQueryParameter,
    MissingAction,
    RequestTooLarge,
    StsError,
    ValidationError,
)
from sp_fixtures.aws.iam_role_calls import check_role_call
from sp_fixtures.aws.iam_view import MOTO_ACCOUNT_HEADER, MotoIam, ProviderExtras
from sp_fixtures.aws.saml_provider_calls import (
    IAM_NS,
    PROVIDER_ACTIONS,
    IamRefusal,
    SamlProviderCalls,
    private_key_id,
)
from sp_fixtures.aws.session_keys import SessionKeys
from sp_fixtures.aws.sts import StrictSts
from sp_fixtures.aws.wire import (
    STS_NS,
    error_xml,
    from_query_params,
    success_xml,
    xml_reply,
)
from sp_fixtures.aws.wsgi_call import call_wsgi

if TYPE_CHECKING:
    from botocore.model import ServiceModel
    from werkzeug.serving import BaseWSGIServer

__all__ = [
    "MAX_BODY",
    "MissingAuthenticationToken",
    "SAML_SESSION_REFUSED_ACTIONS",
    "InternalFailure",
    "RunningServer",
    "StrictStsApp",
    "WsgiApp",
    "check_minimum_session_token_size",
    "moto_app",
    "private_key_id",
    "serve_in_thread",
    "session_credentials_refused",
]

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 1_000_000
"""Larger bodies moto could route to STS are refused unread (an assertion is ≤100,000 chars)."""
MAX_IAM_BODY = 32_000_000
"""IAM bodies are read up to this size (SAMLMetadataDocument may be 10,000,000 characters)."""
STRICT_ACTION = "AssumeRoleWithSAML"
STS_VERSION = "2011-06-15"
IAM_VERSION = "2010-05-08"
MISSING_ACTION = "Missing Action"
MISSING_TOKEN = "Request is missing Authentication Token"  # noqa: S105 - AWS's error text
MOTO_CONTROL_PATHS = ("/moto-api", "/latest/meta-data/", "/latest/api/")
"""Paths moto's server answers itself, whatever the request says (``werkzeug_app.py``)."""
SERVICE_KEY = "fedharness.service"
"""The environ key naming the service (``sts``/``iam``) a request was judged as."""
ACTION_KEY = "fedharness.action"
"""The environ key holding the STS/IAM action a request was judged as."""
DEFAULT_MOTO_ACCOUNT = "123456789012"
"""The account moto uses when a request names none."""
ACCOUNT_PATH = re.compile(r"/_account/(\d{12})(?=/|$)")
"""An endpoint path that picks moto's account (an S3 bucket name cannot start with ``_``)."""
STS_PARAMETERS = frozenset(
    {"RoleArn", "PrincipalArn", "SAMLAssertion", "DurationSeconds", "Policy", "PolicyArns"}
)
"""The parameters :class:`~sp_fixtures.aws.sts.StrictSts` reads; ``MinimumSessionTokenSize``
is checked here (:func:`check_minimum_session_token_size`) and not passed on."""
MIN_SESSION_TOKEN_SIZE, MAX_SESSION_TOKEN_SIZE = 0, 4096
"""``MinimumSessionTokenSize``'s range (aws-sts-saml.md §1.1; botocore's
``minimumSessionTokenSizeType``)."""
SAML_SESSION_REFUSED_ACTIONS = ("GetFederationToken", "GetSessionToken")
"""Calls that credentials from AssumeRoleWithSAML cannot make (aws-sts-saml.md §1.2)."""
REQUIRED_PARAMETERS = {
    "RoleArn": "roleArn",
    "PrincipalArn": "principalArn",
    "SAMLAssertion": "SAMLAssertion",
}
"""Required parameter → the name AWS's validation messages give it."""
MALFORMED_QUERY = "The AWS query string is malformed or does not adhere to AWS standards"
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_FORM = "application/x-www-form-urlencoded"


class MissingAuthenticationToken(StsError):
    """An STS or IAM call that needs a signature came unsigned (code and text as AWS's
    common errors; HTTP 403)."""

    code = "MissingAuthenticationToken"
    status = 403
    sender_fault = True


def moto_app() -> WsgiApp:
    """Return moto's own server application (all services)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return app


class StrictStsApp:
    """WSGI app: strict AssumeRoleWithSAML, everything else to ``fallback`` (moto).

    ``extras`` receives what moto drops from IAM's SAML-provider calls; by default the table
    of ``sts.iam`` when it is a :class:`~sp_fixtures.aws.iam_view.MotoIam`, so the strict
    checks see a provider's encryption mode and keys however it was created.
    """

    def __init__(
        self,
        sts: StrictSts,
        fallback: WsgiApp | None = None,
        *,
        extras: ProviderExtras | None = None,
    ) -> None:
        self.sts = sts
        self.fallback = fallback or moto_app()
        if extras is None:
            extras = sts.iam.extras if isinstance(sts.iam, MotoIam) else ProviderExtras()
        self.extras = extras
        self.saml_provider_calls = SamlProviderCalls(sts, extras, self._moto)
        self.saml_access_keys = SessionKeys()
        """Access key ids this app issued through AssumeRoleWithSAML (one per exchange, as
        moto keeps one session per exchange; never shared with another app)."""

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request."""
        request_id = str(uuid.uuid4())
        try:
            return self._route(environ, start_response, request_id)
        except StsError as error:
            return _reply_error(start_response, error, request_id, environ)
        except Exception:  # a bug of ours must still answer like AWS, never a 500 traceback
            log.exception("strict STS failed")
            failure = InternalFailure("We encountered an internal error. Please try again.")
            return _reply_error(start_response, failure, request_id, environ)

    def _route(
        self, environ: dict[str, Any], start_response: Callable[..., Any], request_id: str
    ) -> Iterable[bytes]:
        _take_account_from_path(environ)
        if _is_moto_control_path(environ):
            return self.fallback(environ, start_response)  # moto answers these paths itself
        service = _signing_service(environ)
        if service not in (None, "sts", "iam"):
            return self.fallback(environ, start_response)  # moto cannot route it to STS
        body = _read_body(environ, MAX_IAM_BODY if service == "iam" else MAX_BODY)
        if _names_strict_action(environ, body):
            answer = self.sts.answer_params(_strict_params(environ, body))
            self.saml_access_keys.add(_access_key_id(answer))
            return xml_reply(
                start_response, success_xml(answer, request_id=request_id), 200, request_id
            )
        self._refuse_saml_session(environ, body)
        params = _moto_params(environ, body)
        if service is None:
            service = _unsigned_service(environ, body, params)
            if service not in ("sts", "iam"):
                return self.fallback(environ, start_response)  # Cognito, presigned S3, …
        environ[SERVICE_KEY] = service
        action = _checked_action(service, environ, body, params)
        environ[ACTION_KEY] = action
        if action == "AttachRolePolicy":
            _load_aws_managed_policy(environ, params.get("PolicyArn", ""))
        if service == "iam" and action in PROVIDER_ACTIONS:
            return self.saml_provider_calls(action, params, environ, start_response, request_id)
        if service == "iam":
            check_role_call(action, params)
        return self._moto(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Run an STS or IAM request through moto, turning its failures into AWS errors.

        moto's server propagates a handler's exception (Flask debug mode) or answers an HTML
        500: either becomes a 400 ``ValidationError`` naming what failed — the request was
        checked against the service model first, so what is left is input moto cannot take —
        and an operation moto lacks (NotImplementedError) a 400 ``InvalidAction``.
        """
        action = str(environ.get(ACTION_KEY) or "the request")
        try:
            answer = call_wsgi(self.fallback, environ)
        except StsError:
            raise
        except NotImplementedError:
            log.info("moto does not implement %s", action)
            raise InvalidAction(
                f"{action} is not implemented by moto, which serves this endpoint"
            ) from None
        except Exception as exc:
            log.warning("moto failed on %s; answered ValidationError", action, exc_info=True)
            raise _moto_failed(action, f"{type(exc).__name__}: {exc}") from None
        if answer is None:
            raise _moto_failed(action, "no response")
        status, headers, body = answer
        if status[:1] == "5":
            log.warning("moto answered %s to %s; answered ValidationError", status, action)
            raise _moto_failed(action, f"HTTP {status}")
        start_response(status, headers)
        return [body]

    def _refuse_saml_session(self, environ: Mapping[str, Any], body: bytes) -> None:
        """Refuse GetFederationToken/GetSessionToken signed with credentials from a SAML
        exchange (moto would mint keys for them)."""
        if not self.saml_access_keys:
            return
        named = _named_actions(environ, body)
        for action in SAML_SESSION_REFUSED_ACTIONS:
            if _names(named, environ, body, action) and _signed_with_any(
                environ, body, self.saml_access_keys
            ):
                raise session_credentials_refused(action)


def _moto_failed(action: str, what: str) -> ValidationError:
    error = ValidationError(
        f"The request could not be processed: moto failed on {action} ({what[:300]})"
    )
    error.rule = "request.moto_failure"
    return error


def _access_key_id(answer: Mapping[str, object]) -> str:
    credentials = answer["Credentials"]
    assert isinstance(credentials, Mapping)  # noqa: S101
    return str(credentials["AccessKeyId"])


def session_credentials_refused(action: str) -> AccessDenied:
    """Return the AccessDenied for ``action`` called with credentials from AssumeRoleWithSAML.

    AWS's answer for this case is not in the reference (aws-sts-saml.md §1.2 says only that
    the call is refused), so the text is not taken from AWS's documentation: it is the one users
    report AWS sending for session credentials in general ("Cannot call GetSessionToken with
    session credentials": aws/aws-sdk-js #3670, aws/aws-sdk-php #1876; GetFederationToken:
    fwdcloudsec/granted #151), unverified by us. The call is refused either way (fail closed).
    """
    error = AccessDenied(f"Cannot call {action} with session credentials")
    error.rule = "session.saml_credentials"
    return error


def check_minimum_session_token_size(params: Mapping[str, object]) -> None:
    """Refuse a ``MinimumSessionTokenSize`` outside 0–4096 or not an integer (ValidationError).

    StrictSts does not read the parameter, so both ``sts serve`` and the in-process boto3 hook
    check it here before answering.
    """
    problem = _minimum_session_token_size_problem(params)
    if problem is not None:
        error = ValidationError(_validation_message([problem]))
        error.rule = "request.minimum_session_token_size"
        raise error


def _minimum_session_token_size_problem(params: Mapping[str, object]) -> str | None:
    """Return AWS's text for a bad ``MinimumSessionTokenSize``, or None if it is absent or valid.

    The text follows DurationSeconds' (sts.py ``from_params``): a value that is not a plain
    decimal integer is "Member must be an integer" (unverified), an absurdly long number is
    reported by the bound it breaks without converting it.
    """
    value = params.get("MinimumSessionTokenSize")
    if value is None:
        return None
    text = str(value)
    if not re.fullmatch(r"-?[0-9]+", text):
        constraint = "Member must be an integer"
    else:
        digits = text.lstrip("-").lstrip("0")
        magnitude = int(digits or "0") if len(digits) <= 18 else 10**18
        size = -magnitude if text.startswith("-") else magnitude
        if size < MIN_SESSION_TOKEN_SIZE:
            constraint = f"Member must have value greater than or equal to {MIN_SESSION_TOKEN_SIZE}"
        elif size > MAX_SESSION_TOKEN_SIZE:
            constraint = f"Member must have value less than or equal to {MAX_SESSION_TOKEN_SIZE}"
        else:
            return None
    return f"Value '{text}' at 'minimumSessionTokenSize' failed to satisfy constraint: {constraint}"


# --- reading a request ------------------------------------------------------------------------


def _load_aws_managed_policy(environ: Mapping[str, Any], policy_arn: str) -> None:
    """Make an AWS managed policy attachable: moto's server loads none unless told to."""
    if not policy_arn.startswith("arn:aws:iam::aws:policy/"):
        return
    from sp_fixtures.aws.iam_view import ensure_moto_managed_policy

    account = str(environ.get("HTTP_X_MOTO_ACCOUNT_ID") or DEFAULT_MOTO_ACCOUNT)
    ensure_moto_managed_policy(account, policy_arn)  # unknown ones: moto answers NoSuchEntity


def _take_account_from_path(environ: dict[str, Any]) -> None:
    """Turn an endpoint path ``/_account/<id>`` into moto's account header and drop it."""
    path = str(environ.get("PATH_INFO", ""))
    match = ACCOUNT_PATH.match(path)
    if match is None:
        return
    environ["HTTP_" + MOTO_ACCOUNT_HEADER.upper().replace("-", "_")] = match.group(1)
    environ["PATH_INFO"] = path[match.end() :] or "/"
    for key in ("REQUEST_URI", "RAW_URI"):
        uri = str(environ.get(key, ""))
        if ACCOUNT_PATH.match(uri):
            environ[key] = ACCOUNT_PATH.sub("", uri, count=1) or "/"


def _is_moto_control_path(environ: Mapping[str, Any]) -> bool:
    path = str(environ.get("PATH_INFO", ""))
    return path.startswith(MOTO_CONTROL_PATHS) or path == "/favicon.ico"


_SIGV4 = "AWS4-HMAC-SHA256"
_SIGV4_FIELDS = ("Credential", "SignedHeaders", "Signature")


def _signing_service(environ: Mapping[str, Any]) -> str | None:
    """Return the service the Authorization header is signed for, read as moto reads it.

    None when unsigned (moto then routes by the body's Action, so it may reach STS); ``s3`` for
    S3's SigV2 header (``AWS <key>:<signature>``, which moto hands to S3). Any other header must
    be SigV4 with ``Credential`` first (where moto reads the scope), ``SignedHeaders`` and
    ``Signature``, else IncompleteSignature: moto would hand it to S3, which crashes (HTTP 500).
    The texts follow AWS's ("… not a valid key=value pair (missing equal-sign) in Authorization
    header …", "Authorization header requires 'Signature' parameter."); the one about the
    credential scope is ours.
    """
    authorization = str(environ.get("HTTP_AUTHORIZATION") or "")
    if not authorization:
        return None
    shown = authorization if len(authorization) <= 200 else authorization[:200] + "…"
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme == "AWS" and _SIGV2_HEADER.match(authorization):
        return "s3"
    if scheme != _SIGV4:
        raise IncompleteSignature(
            f"Authorization header requires 'Credential' parameter. Authorization={shown}"
        )
    fields: dict[str, str] = {}
    problems: list[str] = []
    for part in rest.split(","):
        key, equals, value = part.strip().partition("=")
        if not equals:
            problems.append(
                f"'{part.strip()[:100]}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{shown}'."
            )
        else:
            fields.setdefault(key.strip(), value.strip())
    problems += [
        f"Authorization header requires '{name}' parameter."
        for name in _SIGV4_FIELDS
        if name not in fields
    ]
    scope = fields.get("Credential", "").split("/")
    words = authorization.split(",")[0].split()  # where moto reads the scope
    if not problems and (
        len(scope) != 5
        or not all(scope)
        or scope[4] != "aws4_request"
        or len(words) != 2
        or not words[1].startswith("Credential=")
    ):
        credential = fields["Credential"][:100]
        problems.append(
            "Authorization header's Credential must come first and be "
            f"<access key>/<date>/<region>/<service>/aws4_request, not '{credential}'."
        )
    if problems:
        raise IncompleteSignature(" ".join(problems))
    return scope[3].lower()


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """Read the whole body, refusing one over ``limit`` unread, and let moto read it again."""
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if declared and not re.fullmatch(r"[0-9]{1,20}", declared):
        raise InvalidQueryParameter(f"{MALFORMED_QUERY} (Content-Length {declared[:40]!r})")
    if declared and int(declared) > limit:
        raise RequestTooLarge(f"Request body too large: {declared} bytes (at most {limit})")
    expected = (
        int(declared) if declared else (limit + 1 if environ.get("wsgi.input_terminated") else 0)
    )
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        while size < expected:
            chunk = stream.read(min(1 << 16, expected - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, ValueError) as exc:  # werkzeug: "Invalid chunk header", a disconnect, …
        raise InvalidQueryParameter(
            f"{MALFORMED_QUERY} (the request body could not be read: {str(exc)[:100]})"
        ) from None
    if size > limit:
        raise RequestTooLarge(f"Request body too large: over {limit} bytes")
    body = b"".join(chunks)
    environ["wsgi.input"] = BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["fedharness.body_read"] = True
    return body


def _names_strict_action(environ: Mapping[str, Any], body: bytes) -> bool:
    """Tell whether moto could read the request as AssumeRoleWithSAML, wherever it looks."""
    return _names(_named_actions(environ, body), environ, body, STRICT_ACTION)


def _named_actions(environ: Mapping[str, Any], body: bytes) -> set[str]:
    """Return every action moto could read the request as, lowercased, wherever it looks.

    moto takes the action from the form, else the query string, else the body parsed as a
    query string whatever its Content-Type, else the headers, else ``X-Amz-Target``.
    """
    named = [
        str(environ.get("HTTP_ACTION", "")),
        str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1],
    ]
    for text in (str(environ.get("QUERY_STRING", "")), body.decode("utf-8", "replace")):
        pairs = parse_qsl(text, keep_blank_values=True)
        named += [value for key, value in pairs if key.strip().lower() == "action"]
    return {value.strip().lower() for value in named}


def _names(named: set[str], environ: Mapping[str, Any], body: bytes, action: str) -> bool:
    """Tell whether ``action`` is among ``named`` or, in a multipart body, anywhere."""
    if _is_multipart(environ) and action.lower().encode() in body.lower():
        return True
    return action.lower() in named


def _is_multipart(environ: Mapping[str, Any]) -> bool:
    return str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/")


_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)", re.IGNORECASE)
_SIGV2_HEADER = re.compile(r"\s*AWS\s+([^:\s]+):")
_KEY_PARAMETERS = ("x-amz-credential", "awsaccesskeyid")


def _signed_with_any(environ: Mapping[str, Any], body: bytes, access_keys: SessionKeys) -> bool:
    """Tell whether the request names one of ``access_keys`` as its signer, wherever it could.

    SigV4 puts the key in the Authorization header's ``Credential=<key>/...``, a presigned
    request in ``X-Amz-Credential``, SigV2 in ``AWSAccessKeyId`` (which moto also reads from
    the body); all are looked at, and a multipart body is searched whole (fail closed).
    """
    authorization = str(environ.get("HTTP_AUTHORIZATION") or "")
    named = set(_SIGV4_CREDENTIAL.findall(authorization))
    sigv2 = _SIGV2_HEADER.match(authorization)
    if sigv2 is not None:
        named.add(sigv2.group(1))
    for text in (str(environ.get("QUERY_STRING", "")), body.decode("utf-8", "replace")):
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key.strip().lower() in _KEY_PARAMETERS:
                named.add(value.split("/", 1)[0].strip())
    if access_keys.any_of(named):
        return True
    return _is_multipart(environ) and any(key.encode() in body for key in access_keys.snapshot())


def _strict_params(environ: Mapping[str, Any], body: bytes) -> dict[str, object]:
    """Read AssumeRoleWithSAML's parameters from the query string and a form body, strictly."""
    content_type = str(environ.get("CONTENT_TYPE", "")).strip()
    if body and content_type and not content_type.lower().startswith(_FORM):
        raise InvalidQueryParameter(
            f"{MALFORMED_QUERY} (the body is {content_type}; STS takes {_FORM})"
        )
    params: dict[str, str] = {}
    for key, value in (
        *_form_pairs(environ.get("QUERY_STRING", ""), "query string"),
        *_form_pairs(body, "body"),
    ):
        if key in params:
            raise InvalidQueryParameter(f"{MALFORMED_QUERY} ({key} is given more than once)")
        params[key] = value
    action = params.get("Action")
    if action is None:
        raise MissingAction(MISSING_ACTION)
    if action.lower() != STRICT_ACTION.lower():
        raise InvalidQueryParameter(
            f"{MALFORMED_QUERY} (Action is {action!r} but the request names {STRICT_ACTION})"
        )
    if action != STRICT_ACTION:
        raise InvalidAction(f"Could not find operation {action} for version {STS_VERSION}")
    problems = [
        f"Value null at '{name}' failed to satisfy constraint: Member must not be null"
        for parameter, name in REQUIRED_PARAMETERS.items()
        if parameter not in params
    ]
    token_size = _minimum_session_token_size_problem(params)
    if token_size is not None:
        problems.append(token_size)
    if problems:
        error = ValidationError(_validation_message(problems))
        if problems == [token_size]:
            error.rule = "request.minimum_session_token_size"
        raise error
    return {k: v for k, v in from_query_params(params).items() if k in STS_PARAMETERS}


def _form_pairs(encoded: str | bytes, where: str) -> list[tuple[str, str]]:
    """Decode ``a=1&b=2``, refusing bad percent-encoding and non-UTF-8 text (not replacing)."""
    try:
        raw = encoded.encode("latin-1") if isinstance(encoded, str) else encoded  # PEP 3333
        pairs = []
        for segment in raw.split(b"&"):
            if not segment:
                continue
            if _BAD_ESCAPE.search(segment):
                raise InvalidQueryParameter(f"{MALFORMED_QUERY} (bad %-escape in the {where})")
            key, _, value = segment.partition(b"=")
            pairs.append((_unquote(key), _unquote(value)))
        return pairs
    except UnicodeError:
        raise InvalidQueryParameter(f"{MALFORMED_QUERY} (the {where} is not UTF-8)") from None


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def _validation_message(problems: list[str]) -> str:
    """Return AWS's ValidationError message for parameters that break their constraints."""
    plural = "s" if len(problems) > 1 else ""
    return f"{len(problems)} validation error{plural} detected: {'; '.join(problems)}"


def _moto_params(environ: Mapping[str, Any], body: bytes) -> dict[str, str]:
    """Return the parameters as moto reads them: the form's if any, else the query string's,
    else the body's read as a query string whatever its Content-Type (``setup_class``); moto
    would next read the headers, which an STS or IAM call never names its action in."""
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    pairs: list[tuple[str, str]] = []
    if content_type.startswith(_FORM):
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not pairs:
        pairs = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if not pairs and not _is_multipart(environ):
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value)  # the first value, as werkzeug's MultiDict gives moto
    return params


# --- what moto would do with a request ---------------------------------------------------------


@functools.cache
def _service_model(service: str) -> ServiceModel:
    """Return botocore's model of ``sts`` or ``iam`` (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _moto_router() -> Any:
    """Return a moto dispatcher, used only to ask where moto would route a request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _unsigned_service(environ: dict[str, Any], body: bytes, params: Mapping[str, str]) -> str:
    """Return the service moto routes an unsigned request to, refusing it when moto would
    answer it as S3 only because it names nothing else (moto's default).

    A request that names no action: MissingAction, unless it is an S3 presigned URL. One that
    names an STS or IAM action needing a signature: MissingAuthenticationToken (also when
    presigned: moto reads signatures from the Authorization header only); AssumeRoleWithWebIdentity
    (unsigned in AWS) moto routes only as a form body: InvalidQueryParameter otherwise. One that
    names any other action: InvalidAction.
    """
    probe = {**environ, "wsgi.input": BytesIO(body)}
    router = _moto_router()
    try:
        host = router.infer_service_region_host(probe, str(environ.get("PATH_INFO", "")))
    except Exception:  # e.g. an X-Amz-Target without a ".": moto would fail (HTTP 500)
        host = None
    if host is not None:
        backend = router.get_backend_for_host(host)
        if backend is not None:
            return str(backend)
    action = params.get("Action", "")
    version = params.get("Version", "")
    sts_ops = set(_service_model("sts").operation_names)
    iam_ops = set(_service_model("iam").operation_names)
    if version == IAM_VERSION or (action in iam_ops and action not in sts_ops):
        environ[SERVICE_KEY] = "iam"
    if not action:
        if _query_signed(environ):
            return "s3"  # a presigned S3 URL: moto hands it to S3
        raise MissingAction(MISSING_ACTION)
    if action in sts_ops or action in iam_ops:
        service = "iam" if environ.get(SERVICE_KEY) == "iam" else "sts"
        if _service_model(service).operation_model(action).auth_type == "none":
            raise InvalidQueryParameter(
                f"{MALFORMED_QUERY} ({action} is taken here as a form body, {_FORM})"
            )
        raise MissingAuthenticationToken(MISSING_TOKEN)
    default = IAM_VERSION if environ.get(SERVICE_KEY) == "iam" else STS_VERSION
    raise InvalidAction(f"Could not find operation {action} for version {version or default}")


def _query_signed(environ: Mapping[str, Any]) -> bool:
    """Tell whether the query string carries a signature (a presigned URL, SigV4 or SigV2)."""
    keys = {
        key.strip().lower()
        for key, _ in parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    }
    return "x-amz-credential" in keys or {"awsaccesskeyid", "signature"} <= keys


def _checked_action(
    service: str, environ: Mapping[str, Any], body: bytes, params: Mapping[str, str]
) -> str:
    """Return the STS or IAM action the request names, refusing what the service would refuse
    before running it: no Action (MissingAction), an action it does not have (InvalidAction),
    a body that is not a form (InvalidQueryParameter), a required parameter missing
    (ValidationError; botocore's model says which are required and how each is named)."""
    content_type = str(environ.get("CONTENT_TYPE", "")).strip()
    if body.strip() and content_type and not content_type.lower().startswith(_FORM):
        raise InvalidQueryParameter(
            f"{MALFORMED_QUERY} (the body is {content_type[:100]}; {service.upper()} takes {_FORM})"
        )
    action = params.get("Action", "")
    if not action:
        raise MissingAction(MISSING_ACTION)
    model = _service_model(service)
    if action not in model.operation_names:
        version = params.get("Version") or model.api_version
        raise InvalidAction(f"Could not find operation {action[:200]} for version {version[:40]}")
    shape = model.operation_model(action).input_shape
    if shape is None:
        return action
    problems = []
    for name in shape.required_members:
        wire = str(shape.members[name].serialization.get("name", name))
        if not any(key == wire or key.startswith(wire + ".") for key in params):
            field = name[0].lower() + name[1:]
            problems.append(
                f"Value null at '{field}' failed to satisfy constraint: Member must not be null"
            )
    if problems:
        error = ValidationError(_validation_message(problems))
        error.rule = "request.required_parameter"
        raise error
    return action


# --- writing a reply ------------------------------------------------------------------------


def _reply_error(
    start_response: Callable[..., Any],
    error: StsError,
    request_id: str,
    environ: Mapping[str, Any],
) -> list[bytes]:
    iam = isinstance(error, IamRefusal) or environ.get(SERVICE_KEY) == "iam"
    namespace = IAM_NS if iam else STS_NS
    payload = error_xml(error, request_id=request_id, namespace=namespace)
    close = not environ.get("fedharness.body_read")
    return xml_reply(start_response, payload, error.status, request_id, close=close)


# --- serving ------------------------------------------------------------------------------------


@dataclass
class RunningServer:
    """A strict STS server running in a background thread."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Return the endpoint URL to give boto3 or the AWS CLI (loopback if bound to all)."""
        host, port = str(self.server.server_address[0]), int(self.server.server_address[1])
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def serve_in_thread(app: WsgiApp, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) from a daemon thread.

    Binding is done here so that a busy port raises OSError (werkzeug would print and exit).
    """
    from werkzeug.serving import make_server

    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as werkzeug will assume
    _, kind, proto, _, address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())
    finally:
        listener.close()  # werkzeug keeps its own duplicate of the descriptor
    thread = threading.Thread(target=server.serve_forever, name="fedharness-sts", daemon=True)
    thread.start()
    return RunningServer(server, thread)
