"""Route every boto3 ``assume_role_with_saml`` through the strict checks, in-process.

Under moto's ``mock_aws`` a user's own code calls STS with boto3 as usual; inside
:func:`strict_sts` that call is answered by :class:`~sp_fixtures.aws.sts.StrictSts` — AWS's
checks, AWS's XML, hence botocore's own modelled exceptions — instead of moto's unchecked one.
IAM calls inside the block go through the same layer as ``fedharness sts serve``
(:class:`~sp_fixtures.aws.server.StrictStsApp`, then moto's IAM): they meet IAM's checks
(metadata IAM cannot parse, duplicate names, quotas, trust policy documents, …) and a SAML
provider keeps what moto drops (AssertionEncryptionMode, private keys, SAMLProviderUUID, tags), so
the strict exchange honours a provider however the code under test created it. Every other call
still goes to moto, except that ``GetFederationToken`` and ``GetSessionToken`` signed with
credentials the hook obtained from AssumeRoleWithSAML are refused as AWS refuses them
(aws-sts-saml.md §1.2), inside the block or after it.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import botocore
import botocore.handlers
import botocore.parsers
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel
from werkzeug.test import EnvironBuilder

from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.server import (
    SAML_SESSION_REFUSED_ACTIONS,
    StrictStsApp,
    check_minimum_session_token_size,
    session_credentials_refused,
)
from sp_fixtures.aws.session_keys import SessionKeys
from sp_fixtures.aws.sts import StrictSts
from sp_fixtures.aws.wire import error_xml, from_query_params, parse_query, success_xml
from sp_fixtures.aws.wsgi_call import call_wsgi

EVENT = "before-call.sts.AssumeRoleWithSAML"
IAM_EVENT = "before-call.iam"
REFUSED_EVENTS = tuple(f"before-call.sts.{action}" for action in SAML_SESSION_REFUSED_ACTIONS)

_active: list[StrictSts] = []
_saml_access_keys: weakref.WeakKeyDictionary[StrictSts, SessionKeys] = weakref.WeakKeyDictionary()
"""Access key ids each StrictSts issued through the hook; forgotten with the StrictSts."""
_keys_lock = threading.Lock()
_iam_apps: weakref.WeakKeyDictionary[StrictSts, StrictStsApp] = weakref.WeakKeyDictionary()
"""The IAM layer serving each StrictSts's block (made on its first IAM call)."""


class _RawBody(BytesIO):
    """The raw stream botocore reads a response body from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        """Yield the body in one piece."""
        data = self.read()
        while data:
            yield data
            data = self.read()


def _handler(model: OperationModel, params: dict[str, Any], **_: Any) -> tuple[Any, Any] | None:
    # before-call is emitted "until response": answering here means moto never sees the call
    # (before-send handlers all run, and moto's would crash on inputs AWS refuses).
    if not _active:
        return None
    sts = _active[-1]
    body = params.get("body")
    request = (
        from_query_params(body)
        if isinstance(body, Mapping)
        else parse_query(body if isinstance(body, bytes | str) else b"")
    )
    try:
        check_minimum_session_token_size(request)  # StrictSts does not read it
        answer = sts.answer_params(request)
        payload, status = success_xml(answer), 200
        _remember(sts, answer)
    except StsError as error:
        payload, status = error_xml(error), error.status
    return _reply(model, params, payload, status)


def _iam_handler(
    model: OperationModel,
    params: dict[str, Any],
    request_signer: Any = None,
    context: Mapping[str, Any] | None = None,
    **_: Any,
) -> tuple[Any, Any] | None:
    """Serve an IAM call inside the block as ``fedharness sts serve`` does: checked, then moto."""
    if not _active:
        return None
    sts = _active[-1]
    with _keys_lock:
        app = _iam_apps.get(sts)
        if app is None:
            app = _iam_apps[sts] = StrictStsApp(sts)
    access_key = _signing_access_key(request_signer, context or {})
    answer = call_wsgi(app, _iam_environ(params, access_key))
    assert answer is not None, "StrictStsApp always answers"  # noqa: S101
    status, _headers, payload = answer
    return _reply(model, params, payload, int(status.split()[0]))


def _iam_environ(params: Mapping[str, Any], access_key: str | None) -> dict[str, Any]:
    """Return the WSGI environ of the HTTP request botocore would send for ``params``.

    The Authorization header carries the signing access key (moto picks the account by it) and
    no real signature: neither our layer nor moto checks one. Unsigned calls stay unsigned, and
    IAM refuses them as AWS does.
    """
    body = params.get("body")
    data = urlencode(body) if isinstance(body, Mapping) else body
    headers = {str(k): str(v) for k, v in dict(params.get("headers") or {}).items()}
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    if access_key is not None:
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
    builder = EnvironBuilder(
        method=str(params.get("method") or "POST"),
        base_url=str(params.get("url") or "https://iam.amazonaws.com/"),
        headers=list(headers.items()),
        data=data if isinstance(data, bytes | str) else b"",
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _remember(sts: StrictSts, answer: Mapping[str, object]) -> None:
    credentials = answer["Credentials"]
    assert isinstance(credentials, Mapping)  # noqa: S101
    with _keys_lock:
        _saml_access_keys.setdefault(sts, SessionKeys()).add(str(credentials["AccessKeyId"]))


def _minted_by_saml(access_key: str) -> bool:
    with _keys_lock:
        return any(access_key in keys for keys in list(_saml_access_keys.values()))


def _refuse_saml_session(
    model: OperationModel,
    params: dict[str, Any],
    request_signer: Any = None,
    context: Mapping[str, Any] | None = None,
    **_: Any,
) -> tuple[Any, Any] | None:
    """Refuse GetFederationToken/GetSessionToken signed with credentials from the hook's
    AssumeRoleWithSAML; leave any other caller to moto."""
    access_key = _signing_access_key(request_signer, context or {})
    if access_key is None or not _minted_by_saml(access_key):
        return None
    error = session_credentials_refused(model.name)
    return _reply(model, params, error_xml(error), error.status)


def _signing_access_key(request_signer: Any, context: Mapping[str, Any]) -> str | None:
    """Return the access key id botocore will sign the call with, None if it will not sign."""
    if request_signer is None or request_signer.signature_version is botocore.UNSIGNED:
        return None
    signing = context.get("signing") or {}
    credentials = signing.get("request_credentials") or getattr(
        request_signer, "_credentials", None
    )  # RequestSigner exposes no public accessor; get_auth_instance reads the same attribute
    if credentials is None:
        return None
    return str(credentials.get_frozen_credentials().access_key)


def _reply(
    model: OperationModel, params: Mapping[str, Any], payload: bytes, status: int
) -> tuple[Any, Any]:
    headers = {"Content-Type": "text/xml", "x-amzn-requestid": "fedharness"}
    # Parse our XML with botocore's own parser, so the result is exactly what AWS's would give.
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse(
        {"body": payload, "headers": headers, "status_code": status}, model.output_shape
    )
    http = AWSResponse(str(params.get("url", "")), status, headers, _RawBody(payload))
    return http, parsed


def install() -> None:
    """Register the hooks on botocore sessions created from now on and on boto3's default one.

    Clients keep the handlers their session had when they were made: a client created before
    the first install() on a custom session is not covered.
    """
    entries = [
        (EVENT, _handler),
        (IAM_EVENT, _iam_handler),
        *((event, _refuse_saml_session) for event in REFUSED_EVENTS),
    ]
    for entry in entries:
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
        for event, handler in entries:
            events.unregister(event, handler)
            events.register(event, handler)


@contextlib.contextmanager
def strict_sts(sts: StrictSts) -> Iterator[StrictSts]:
    """Answer boto3's AssumeRoleWithSAML with ``sts`` inside the block (use under mock_aws);
    IAM calls meet IAM's checks on their way to moto.

    The switch is process-wide, like ``mock_aws`` itself: every thread's calls go to the
    innermost active block's ``sts``.

    The hook is registered on botocore's built-in handlers, so clients made inside the block
    (and any made before it, after :func:`install`) are covered.
    """
    install()
    _active.append(sts)
    try:
        yield sts
    finally:
        _active.remove(sts)
