"""STS on the wire: query-protocol parameters in, AWS's XML out (success and ErrorResponse)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from lxml import etree

from sp_fixtures.aws.errors import StsError

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def parse_query(body: bytes | str) -> dict[str, object]:
    """Decode a form-encoded query-protocol body into boto3-style parameters."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    pairs = {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}
    return from_query_params(pairs)


def from_query_params(pairs: Mapping[str, object]) -> dict[str, object]:
    """Turn flattened query parameters (``PolicyArns.member.1.arn``) into boto3-style ones."""
    params: dict[str, object] = {}
    arns: list[tuple[int, str]] = []
    for key, value in pairs.items():
        parts = key.split(".")
        if parts[0] == "PolicyArns" and len(parts) == 4 and parts[2].isdigit():
            arns.append((int(parts[2]), str(value)))
        elif parts[0] != "PolicyArns":
            params[key] = value
    if arns:
        params["PolicyArns"] = [arn for _, arn in sorted(arns)]
    return params


def reply_root(tag: str, namespace: str) -> etree._Element:
    """Make the root element of a reply, declaring ``namespace`` as its default namespace."""
    # lxml takes None as the default namespace's prefix; lxml-stubs types nsmap keys as str only.
    return etree.Element(tag, nsmap={None: namespace})  # type: ignore[dict-item]


def _text(parent: etree._Element, name: str, value: object) -> None:
    etree.SubElement(parent, name).text = str(value)


def _timestamp(moment: object) -> str:
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment)


def success_xml(answer: Mapping[str, object], *, request_id: str | None = None) -> bytes:
    """Render an AssumeRoleWithSAML answer as STS's XML response."""
    root = reply_root("AssumeRoleWithSAMLResponse", STS_NS)
    result = etree.SubElement(root, "AssumeRoleWithSAMLResult")
    credentials = answer["Credentials"]
    user = answer["AssumedRoleUser"]
    assert isinstance(credentials, Mapping) and isinstance(user, Mapping)  # noqa: S101
    for key in (
        "Issuer",
        "Audience",
        "Subject",
        "SubjectType",
        "NameQualifier",
        "SourceIdentity",
        "PackedPolicySize",
    ):
        if answer.get(key) is not None:
            _text(result, key, answer[key])
    assumed = etree.SubElement(result, "AssumedRoleUser")
    _text(assumed, "Arn", user["Arn"])
    _text(assumed, "AssumedRoleId", user["AssumedRoleId"])
    creds = etree.SubElement(result, "Credentials")
    for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        _text(creds, key, credentials[key])
    _text(creds, "Expiration", _timestamp(credentials["Expiration"]))
    metadata = etree.SubElement(root, "ResponseMetadata")
    _text(metadata, "RequestId", request_id or str(uuid.uuid4()))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def error_xml(error: StsError, *, request_id: str | None = None, namespace: str = STS_NS) -> bytes:
    """Render an error as an ``ErrorResponse`` in ``namespace`` (STS's, or IAM's), which
    botocore maps to its exceptions."""
    root = reply_root("ErrorResponse", namespace)
    body = etree.SubElement(root, "Error")
    _text(body, "Type", "Sender" if error.sender_fault else "Receiver")
    _text(body, "Code", error.code)
    _text(body, "Message", error.message)
    _text(root, "RequestId", request_id or str(uuid.uuid4()))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xml_reply(
    start_response: Callable[..., Any],
    payload: bytes,
    status: int,
    request_id: str,
    *,
    close: bool = False,
) -> list[bytes]:
    """Answer with an XML ``payload`` and the request id header AWS sends."""
    headers = [
        ("Content-Type", "text/xml"),
        ("Content-Length", str(len(payload))),
        ("x-amzn-RequestId", request_id),
    ]
    if close:  # the body was left unread: the connection cannot carry another request
        headers.append(("Connection", "close"))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [payload]
