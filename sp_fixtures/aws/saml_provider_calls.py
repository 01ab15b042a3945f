"""IAM's SAML-provider calls, with what moto drops kept in a :class:`ProviderExtras`.

moto's IAM forgets a provider's AssertionEncryptionMode and private keys, sets its metadata to
None on an update without one, gives no SAMLProviderUUID, and has no tag calls.
:class:`SamlProviderCalls` passes Create/Update/Delete/Get through moto and fills in from the
extras; it answers Tag/Untag/ListSAMLProviderTags itself.

moto also stores whatever it is given, so this layer first refuses what IAM refuses
(aws-sts-saml.md §1.1, §3.2, §4): metadata IAM cannot parse — with the checks scenario
provisioning applies, :func:`~sp_fixtures.aws.provision.decode_metadata` — (InvalidInput), a
name already taken (EntityAlreadyExists), and the quotas: 100 providers per account, 50 tags and
10 signing keys per provider (LimitExceeded). Checks run in this order: parameters, metadata,
name, account quota (AWS's order is not documented).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from lxml import etree

from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from sp_fixtures.aws.account import (
    PROVIDER_UUID_PATTERN,
    InvalidMetadataError,
    TooManyMetadataKeysError,
    new_provider_uuid,
)
from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.iam_view import (
    PROVIDER_UUID_HEADER,
    ProviderExtra,
    ProviderExtras,
    moto_request_account,
    moto_saml_provider_names,
)
from sp_fixtures.aws.provision import decode_metadata
from sp_fixtures.aws.wire import reply_root, xml_reply
from sp_fixtures.aws.wsgi_call import call_wsgi

if TYPE_CHECKING:
    from sp_fixtures.aws.server import WsgiApp
    from sp_fixtures.aws.sts import StrictSts

log = logging.getLogger(__name__)

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
ENCRYPTION_MODES = ("Allowed", "Required")
MAX_PRIVATE_KEYS = 2
"""``GetSAMLProvider.PrivateKeyList`` holds at most two keys (aws-sts-saml.md §4)."""
MAX_PROVIDERS_PER_ACCOUNT = 100
"""SAML providers per account (aws-sts-saml.md §1.1)."""
MAX_TAGS_PER_PROVIDER = 50
"""Tags per SAML provider (aws-sts-saml.md §1.1; ``tagListType`` max 50)."""
_UUID_ENVIRON_KEY = "HTTP_" + PROVIDER_UUID_HEADER.upper().replace("-", "_")


class IamRefusal(StsError):
    """An IAM call the layer refuses itself, before moto sees it (texts unverified)."""

    code = "InvalidInput"
    status = 400
    sender_fault = True


class IamValidationError(IamRefusal):
    """An IAM parameter breaks its constraints."""

    code = "ValidationError"


class NoSuchEntity(IamRefusal):
    """The SAML provider does not exist."""

    code = "NoSuchEntity"
    status = 404


class LimitExceeded(IamRefusal):
    """A quota would be exceeded: providers per account, or tags, signing keys or private keys
    per provider (texts ours, not AWS's: AWS only says the message "describes the limit")."""

    code = "LimitExceeded"
    status = 409


class EntityAlreadyExists(IamRefusal):
    """A SAML provider of that name exists in the account (text ours, not AWS's)."""

    code = "EntityAlreadyExists"
    status = 409


@dataclass(frozen=True)
class MotoReply:
    """A complete answer from moto, held back so the layer can read it first."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        """Tell whether moto answered 2xx."""
        return self.status_line[:1] == "2"

    def root(self, expected: str) -> etree._Element | None:
        """Return the XML root when moto answered 2xx with ``<expected>`` (any namespace)."""
        if not self.ok:
            return None
        try:
            root = parse_xml(self.body)
        except UnsafeXmlError:
            return None
        return root if etree.QName(root).localname == expected else None


class SamlProviderCalls:
    """Answer IAM's SAML-provider calls through ``moto``, keeping what it drops in ``extras``.

    Calls are served one at a time: each reads and writes the extras around its moto call.
    """

    def __init__(self, sts: StrictSts, extras: ProviderExtras, moto: WsgiApp) -> None:
        self.sts = sts
        self.extras = extras
        self.moto = moto
        self._lock = threading.Lock()
        self._key_added: dict[tuple[str, str], str] = {}

    def __call__(
        self,
        action: str,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        """Serve the SAML-provider call ``action`` (one of :data:`PROVIDER_ACTIONS`)."""
        with self._lock:
            return _CALLS[action](self, params, environ, start_response, request_id)

    def _forward(self, environ: dict[str, Any]) -> MotoReply:
        """Run a request through moto and hold its whole answer."""
        answer = call_wsgi(self.moto, environ)
        assert answer is not None, "moto always starts a response"  # noqa: S101
        return MotoReply(*answer)

    def _create_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        mode = _encryption_mode(params)
        keys = (_private_key(params["AddPrivateKey"]),) if "AddPrivateKey" in params else ()
        tags = _tags(params)
        _check_tag_count(len(_members(params, "Tags", "Key")))
        fixed_uuid = _header_uuid(environ)
        _check_metadata(params.get("SAMLMetadataDocument", ""))
        name = params.get("Name", "")
        account_id, partition = moto_request_account(environ)
        existing = moto_saml_provider_names(account_id, partition)
        if name in existing:  # moto would overwrite it
            raise EntityAlreadyExists(
                f"A SAML provider named {name} already exists in account {account_id}"
            )
        if len(existing) >= MAX_PROVIDERS_PER_ACCOUNT:
            raise LimitExceeded(
                f"Account {account_id} already has {len(existing)} SAML providers; "
                f"an account holds at most {MAX_PROVIDERS_PER_ACCOUNT}"
            )
        owner = self.extras.uuid_owner(fixed_uuid) if fixed_uuid else None
        if owner is not None:
            raise IamRefusal(
                f"The SAML provider {owner} already has the SAMLProviderUUID {fixed_uuid}"
            )
        reply = self._forward(environ)
        root = reply.root("CreateSAMLProviderResponse")
        arn = _find_text(root, "SAMLProviderArn") if root is not None else None
        if arn:
            uuid = fixed_uuid or new_provider_uuid()
            self.extras.record(
                arn, ProviderExtra(encryption_mode=mode, private_keys=keys, tags=tags, uuid=uuid)
            )
            self._note_keys(arn, keys)
        return _pass_on(start_response, reply)

    def _update_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        arn = params.get("SAMLProviderArn", "")
        if self.sts.iam.saml_provider(arn) is None:  # moto answers NoSuchEntity
            return _pass_on(start_response, self._forward(environ))
        if "SAMLMetadataDocument" in params:
            _check_metadata(params["SAMLMetadataDocument"])
        current = self.extras.ensure(arn)
        mode = _encryption_mode(params) or current.encryption_mode
        keys = list(current.private_keys)
        if "RemovePrivateKey" in params:
            key_id = params["RemovePrivateKey"]
            kept = [key for key in keys if private_key_id(key) != key_id]
            if len(kept) == len(keys):
                raise IamRefusal(f"The SAML provider has no private key with KeyId {key_id}")
            keys = kept
        if "AddPrivateKey" in params:
            keys.append(_private_key(params["AddPrivateKey"]))
            if len(keys) > MAX_PRIVATE_KEYS:
                raise LimitExceeded(
                    f"A SAML provider holds at most {MAX_PRIVATE_KEYS} private keys; "
                    "remove one (RemovePrivateKey) in a separate request first"
                )
        if "SAMLMetadataDocument" not in params:
            self._keep_metadata(arn, environ)
        reply = self._forward(environ)
        root = reply.root("UpdateSAMLProviderResponse")
        updated = _find_text(root, "SAMLProviderArn") if root is not None else None
        if updated:
            self.extras.record(
                updated, replace(current, encryption_mode=mode, private_keys=tuple(keys))
            )
            self._note_keys(updated, keys)
        return _pass_on(start_response, reply)

    def _keep_metadata(self, arn: str, environ: dict[str, Any]) -> None:
        """Resend the current metadata: moto sets it to None when an update omits it."""
        provider = self.sts.iam.saml_provider(arn)
        if provider is None or not provider.metadata:
            return
        extra = "SAMLMetadataDocument=" + quote(provider.metadata, safe="")
        body = environ["wsgi.input"].read()
        if body.strip():
            body += b"&" + extra.encode("ascii")
        else:
            query = environ.get("QUERY_STRING", "")
            environ["QUERY_STRING"] = f"{query}&{extra}" if query else extra
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

    def _delete_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        reply = self._forward(environ)
        arn = params.get("SAMLProviderArn", "")
        if reply.root("DeleteSAMLProviderResponse") is not None:
            self.extras.forget(arn)
            for key in [key for key in self._key_added if key[0] == arn]:
                del self._key_added[key]
        return _pass_on(start_response, reply)

    def _get_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        """Add what moto leaves out: SAMLProviderUUID, AssertionEncryptionMode, PrivateKeyList,
        Tags."""
        reply = self._forward(environ)
        root = reply.root("GetSAMLProviderResponse")
        arn = params.get("SAMLProviderArn", "")
        result = _find(root, "GetSAMLProviderResult") if root is not None else None
        if root is None or result is None:
            return _pass_on(start_response, reply)
        namespace = etree.QName(root).namespace
        extra = self.extras.ensure(arn)  # moto answered, so the provider exists
        uuid = _child(result, namespace, "SAMLProviderUUID", extra.uuid)
        result.remove(uuid)
        result.insert(0, uuid)  # first, as in AWS's GetSAMLProviderResult
        self._note_keys(arn, extra.private_keys)  # keys recorded elsewhere get a timestamp now
        if extra.encryption_mode:
            _child(result, namespace, "AssertionEncryptionMode", extra.encryption_mode)
        if extra.private_keys:
            listing = _child(result, namespace, "PrivateKeyList")
            for key in extra.private_keys:
                member = _child(listing, namespace, "member")
                key_id = private_key_id(key)
                _child(member, namespace, "KeyId", key_id)
                _child(member, namespace, "Timestamp", self._key_added[(arn, key_id)])
        if extra.tags:
            _tag_members(_child(result, namespace, "Tags"), namespace, extra.tags)
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return _pass_on(start_response, MotoReply(reply.status_line, reply.headers, body))

    def _tag_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        arn, extra = self._existing(params)
        _check_tag_count(len(_members(params, "Tags", "Key")))
        tags = {**extra.tags, **_tags(params)}
        _check_tag_count(len(tags), arn)
        self.extras.record(arn, replace(extra, tags=tags))
        return xml_reply(start_response, _iam_xml("TagSAMLProvider", request_id), 200, request_id)

    def _untag_provider(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        arn, extra = self._existing(params)
        removed = set(_members(params, "TagKeys"))
        tags = {key: value for key, value in extra.tags.items() if key not in removed}
        self.extras.record(arn, replace(extra, tags=tags))
        return xml_reply(start_response, _iam_xml("UntagSAMLProvider", request_id), 200, request_id)

    def _list_provider_tags(
        self,
        params: Mapping[str, str],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request_id: str,
    ) -> Iterable[bytes]:
        _, extra = self._existing(params)
        payload = _iam_xml("ListSAMLProviderTags", request_id, tags=extra.tags)
        return xml_reply(start_response, payload, 200, request_id)

    def _existing(self, params: Mapping[str, str]) -> tuple[str, ProviderExtra]:
        arn = params.get("SAMLProviderArn", "")
        if self.sts.iam.saml_provider(arn) is None:
            raise NoSuchEntity(f"The SAML provider {arn} does not exist")
        return arn, self.extras.ensure(arn)

    def _note_keys(self, arn: str, keys: Iterable[bytes]) -> None:
        """Record when each of the provider's keys (all of them) was added; forget the rest."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        current = {private_key_id(key) for key in keys}
        for stale in [k for k in self._key_added if k[0] == arn and k[1] not in current]:
            del self._key_added[stale]
        for key_id in current:
            self._key_added.setdefault((arn, key_id), now)


_Call = Callable[
    [SamlProviderCalls, Mapping[str, str], dict[str, Any], Callable[..., Any], str],
    Iterable[bytes],
]
_CALLS: dict[str, _Call] = {
    "CreateSAMLProvider": SamlProviderCalls._create_provider,
    "UpdateSAMLProvider": SamlProviderCalls._update_provider,
    "DeleteSAMLProvider": SamlProviderCalls._delete_provider,
    "GetSAMLProvider": SamlProviderCalls._get_provider,
    "TagSAMLProvider": SamlProviderCalls._tag_provider,  # moto: NotImplementedError (HTTP 500)
    "UntagSAMLProvider": SamlProviderCalls._untag_provider,
    "ListSAMLProviderTags": SamlProviderCalls._list_provider_tags,
}
#: The IAM actions :class:`SamlProviderCalls` serves.
PROVIDER_ACTIONS = frozenset(_CALLS)


# --- IAM parameters -------------------------------------------------------------------------


def _header_uuid(environ: Mapping[str, Any]) -> str | None:
    """Return the SAMLProviderUUID the provider-uuid header fixes, if it is there.

    The header is ours (scenario provisioning sends it), so its refusals' texts are too.
    """
    uuid = environ.get(_UUID_ENVIRON_KEY)
    if uuid is None:
        return None
    uuid = str(uuid).strip()
    if not re.fullmatch(PROVIDER_UUID_PATTERN, uuid):
        raise IamRefusal(
            f"The {PROVIDER_UUID_HEADER} header must be 22 to 64 capital letters A-Z and "
            f"digits (a SAMLProviderUUID), not {uuid[:80]!r}"
        )
    return uuid


def _check_metadata(document: str) -> None:
    """Refuse metadata as IAM does, with the checks scenario provisioning applies.

    InvalidInput carries IAM's text ("Could not parse metadata", or "Unable to parse metadata"
    for a signing certificate; aws-sts-saml.md §3.2); our reason goes in ``detail``. More than
    10 signing certificates is the keys-per-provider quota: LimitExceeded, with our text.
    """
    try:
        decode_metadata(document.encode("utf-8"), "SAMLMetadataDocument")
    except TooManyMetadataKeysError as exc:
        raise LimitExceeded(exc.message) from None
    except InvalidMetadataError as exc:
        log.info("InvalidInput: %s: %s", exc.iam_message, exc.message)  # why, for the operator
        raise IamRefusal(exc.iam_message, detail=exc.message) from None


def _check_tag_count(count: int, arn: str | None = None) -> None:
    """Refuse more than 50 tags, in a request or on a provider ``arn`` once tagged."""
    if count <= MAX_TAGS_PER_PROVIDER:
        return
    where = f"The SAML provider {arn} would have" if arn else "The request has"
    raise LimitExceeded(
        f"{where} {count} tags; a SAML provider holds at most {MAX_TAGS_PER_PROVIDER}"
    )


def _encryption_mode(params: Mapping[str, str]) -> str | None:
    mode = params.get("AssertionEncryptionMode")
    if mode is not None and mode not in ENCRYPTION_MODES:
        raise IamValidationError(
            f"1 validation error detected: Value '{mode}' at 'assertionEncryptionMode' failed "
            f"to satisfy constraint: Member must satisfy enum value set: [Allowed, Required]"
        )
    return mode


def _private_key(pem: str) -> bytes:
    data = pem.encode("utf-8")
    try:
        serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise IamRefusal("AddPrivateKey is not an unencrypted PEM private key") from None
    return data


def private_key_id(pem: bytes) -> str:
    """Return the KeyId this layer gives a provider's private key.

    AWS's KeyIds are opaque (22–64 of ``[A-Z0-9]``); ours is the first 26 base32 characters
    of the SHA-256 of the public key, so it is stable and computable from the key file.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b32encode(hashlib.sha256(der).digest()).decode("ascii")[:26]


def _members(params: Mapping[str, str], name: str, field: str = "") -> list[str]:
    """Return ``Name.member.N[.Field]`` values in N order."""
    suffix = f".{field}" if field else ""
    pattern = re.compile(rf"{re.escape(name)}\.member\.([0-9]{{1,6}}){re.escape(suffix)}")
    found = sorted(
        (int(m.group(1)), value) for key, value in params.items() if (m := pattern.fullmatch(key))
    )
    return [value for _, value in found]


def _tags(params: Mapping[str, str]) -> dict[str, str]:
    pattern = re.compile(r"Tags\.member\.([0-9]{1,6})\.Key")
    indexes = sorted(int(m.group(1)) for key in params if (m := pattern.fullmatch(key)))
    return {
        params[f"Tags.member.{i}.Key"]: params.get(f"Tags.member.{i}.Value", "") for i in indexes
    }


# --- writing a reply ------------------------------------------------------------------------


def _find(root: etree._Element, name: str) -> etree._Element | None:
    return next((node for node in root.iter() if etree.QName(node).localname == name), None)


def _find_text(root: etree._Element, name: str) -> str | None:
    node = _find(root, name)
    return (node.text or "").strip() if node is not None else None


def _child(
    parent: etree._Element, namespace: str | None, name: str, text: str | None = None
) -> etree._Element:
    node = etree.SubElement(parent, f"{{{namespace}}}{name}" if namespace else name)
    if text is not None:
        node.text = text
    return node


def _tag_members(parent: etree._Element, namespace: str | None, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        member = _child(parent, namespace, "member")
        _child(member, namespace, "Key", key)
        _child(member, namespace, "Value", value)


def _iam_xml(action: str, request_id: str, *, tags: Mapping[str, str] | None = None) -> bytes:
    """Render IAM's answer to ``action`` (a ``…Result`` with tags only for a listing)."""
    root = reply_root(f"{{{IAM_NS}}}{action}Response", IAM_NS)
    if tags is not None:
        result = _child(root, IAM_NS, f"{action}Result")
        _tag_members(_child(result, IAM_NS, "Tags"), IAM_NS, tags)
        _child(result, IAM_NS, "IsTruncated", "false")
    _child(_child(root, IAM_NS, "ResponseMetadata"), IAM_NS, "RequestId", request_id)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _pass_on(start_response: Callable[..., Any], reply: MotoReply) -> list[bytes]:
    headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
    start_response(reply.status_line, [*headers, ("Content-Length", str(len(reply.body)))])
    return [reply.body]
