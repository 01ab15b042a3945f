"""Route every boto3 ``assume_role_with_saml`` through the strict checks, in-process.

Under moto's ``mock_aws`` a user's own code calls STS with boto3 as usual; inside
:func:`strict_sts` that call is answered by :class:`~sp_fixtures.aws.sts.StrictSts` — AWS's
checks, AWS's XML, hence botocore's own modelled exceptions — instead of moto's unchecked one.
Every other call still goes to moto.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any

import botocore.handlers
import botocore.parsers
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel

from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.sts import StrictSts
from sp_fixtures.aws.wire import error_xml, from_query_params, parse_query, success_xml

EVENT = "before-call.sts.AssumeRoleWithSAML"

_active: list[StrictSts] = []


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
        payload, status = success_xml(sts.answer_params(request)), 200
    except StsError as error:
        payload, status = error_xml(error), error.status
    headers = {"Content-Type": "text/xml", "x-amzn-requestid": "fedharness"}
    # Parse our XML with botocore's own parser, so the result is exactly what AWS's would give.
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse(
        {"body": payload, "headers": headers, "status_code": status}, model.output_shape
    )
    http = AWSResponse(str(params.get("url", "")), status, headers, _RawBody(payload))
    return http, parsed


def install() -> None:
    """Register the hook on botocore sessions created from now on and on boto3's default one.

    Clients keep the handlers their session had when they were made: a client created before
    the first install() on a custom session is not covered.
    """
    entry = (EVENT, _handler)
    if entry not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
        events.unregister(EVENT, _handler)
        events.register(EVENT, _handler)


@contextlib.contextmanager
def strict_sts(sts: StrictSts) -> Iterator[StrictSts]:
    """Answer boto3's AssumeRoleWithSAML with ``sts`` inside the block (use under mock_aws).

    The hook is registered on botocore's built-in handlers, so clients made inside the block
    (and any made before it, after :func:`install`) are covered.
    """
    install()
    _active.append(sts)
    try:
        yield sts
    finally:
        _active.remove(sts)
