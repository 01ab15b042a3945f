"""Signed responses from compiled templates: the tree builder runs once per shape, not per response.

Two responses of the same *shape* — the same optional elements present, as many audiences,
attributes and values, the same key and algorithms — differ only in strings: IDs, times, names,
attribute values, and the digest and signature values. So once a shape recurs, it is built the
ordinary way (:func:`~idp.saml.builder.build_assertion`, :func:`~idp.saml.builder.build_response`,
:func:`~idp.saml.signing.sign_element`: lxml and python-xmlsec) from specs whose strings are
unique placeholders, and its serialisations — the exclusive canonical form of each signed element
and of its ``ds:SignedInfo``, and the document sent — are cut at the placeholders into templates.
Every later response of that shape fills the templates with its own escaped strings, hashes the
filled canonical element, and signs the filled canonical SignedInfo: one RSA operation and a few
microseconds of string work, where building and canonicalising trees costs about a third of the
RSA operation. The response that compiles a shape is also written by the tree path, and the
templates are kept only if they write it byte for byte; a shape seen once is not compiled (a CLI
run issues a handful of responses).

The RSA step here is ``cryptography``'s (OpenSSL), not xmlsec's: RSA PKCS#1 v1.5 is
deterministic, so the signature value is the same bytes either way, and xmlsec's own RSA runs at
0.83 of OpenSSL's rate (the xmlsec wheel exports the private key's parameters on every signature
to check that it is a private key). The output is byte for byte what the tree path writes for the
same specs — ``tests/idp/saml/test_compiled.py`` compares the two over generated specs, every
sign target and every algorithm — and is verified in the tests by xmlsec1, python-xmlsec, signxml
and pysaml2.

Whatever the templates cannot carry exactly takes the tree path, which writes it or raises as it
always did: characters XML forbids, and tab, CR and LF, which the canonical form and the
serialisation escape differently; values of another type than the field's (negative tests build
those); shapes whose placeholders the tree path refuses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, get_type_hints

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from idp.saml.builder import (
    AssertionSpec,
    ResponseSpec,
    SamlAttribute,
    build_assertion,
    build_response,
    saml_time,
    to_bytes,
)
from idp.saml.constants import DIGEST_FOR, NS, DigestAlgorithm, SignatureAlgorithm, qname
from idp.saml.signing import (
    SigningConfig,
    base64_lines,
    exclusive_c14n,
    sign_element,
    sign_response,
)

_MAX_SHAPES = 256
"""Compiled shapes kept; a directory's users fall into a handful (mostly by role count)."""

_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
_TIME_ORIGIN = dt.datetime(1001, 1, 1, tzinfo=dt.UTC)
"""Placeholder times count seconds from here: no real time nor base64 text looks like them."""

_SPECIAL = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')
"""Characters that are escaped, or that send a response down the tree path."""
_TREE_ONLY = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML forbids, and tab, CR and LF (escaped differently in C14N and serialisation)."""

_HASHLIB = {
    DigestAlgorithm.SHA1: hashlib.sha1,
    DigestAlgorithm.SHA256: hashlib.sha256,
    DigestAlgorithm.SHA512: hashlib.sha512,
}
_RSA_HASHES: dict[SignatureAlgorithm, hashes.HashAlgorithm] = {
    SignatureAlgorithm.RSA_SHA1: hashes.SHA1(),  # noqa: S303 - only to build downgrade tests
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256(),
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512(),
}
_PKCS1 = padding.PKCS1v15()
_SIGNED_INFO = qname(NS.DS, "SignedInfo")
_DIGEST_VALUE = f"{_SIGNED_INFO}/{qname(NS.DS, 'Reference')}/{qname(NS.DS, 'DigestValue')}"
_SIGNATURE_VALUE = qname(NS.DS, "SignatureValue")

log = logging.getLogger(__name__)


class _TreePath(Exception):  # noqa: N818 - a signal, not an error
    """These specs take the tree path."""


def _escape_text(value: str) -> str:
    # The same in canonical form and serialisation, for the characters that reach here (no CR).
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute_canonical(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _escape_attribute_serialised(value: str) -> str:
    return _escape_text(value).replace('"', "&quot;")


class _Template:
    """A serialisation cut at its placeholders: the literal pieces, and which value goes between.

    ``plain`` picks each place's value by slot, for values that need no escaping;
    ``by_context`` picks ``2 * slot + inside_tag`` from a list holding each value escaped as
    text and as an attribute value.
    """

    __slots__ = ("by_context", "literals", "plain")

    def __init__(self, text: str) -> None:
        pieces = _PLACEHOLDER.split(text)
        self.literals = tuple(pieces[0::2])
        slots = [int(piece) for piece in pieces[1::2]]
        contexts = []
        inside_tag = False
        for literal, slot in zip(self.literals, slots, strict=False):
            opened, closed = literal.rfind("<"), literal.rfind(">")
            if opened != closed:  # the literal holds a '<' or '>': the later one decides
                inside_tag = opened > closed
            contexts.append(2 * slot + inside_tag)
        self.plain = _picker(slots)
        self.by_context = _picker(contexts)

    def fill(self, values: list[str], picker: Callable[[list[str]], tuple[str, ...]]) -> str:
        """Return the literal pieces with ``picker(values)`` between them.

        With ``by_context``, ``values`` holds two entries per slot: the value escaped as text,
        then as an attribute value.
        """
        between = chain.from_iterable(zip(self.literals, picker(values), strict=False))
        return "".join(between) + self.literals[-1]


def _picker(indices: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """Return a function picking ``indices`` from a list, always as a tuple."""
    if len(indices) == 1:
        (index,) = indices
        return lambda values: (values[index],)
    return itemgetter(*indices)


@dataclass(frozen=True)
class _Signed:
    """Templates for one signed element: its canonical form and its canonical SignedInfo."""

    canonical: _Template
    signed_info: _Template


@dataclass(frozen=True)
class _Compiled:
    """Everything needed to write a response of one shape."""

    assertion: _Signed | None
    response: _Signed | None
    document: _Template


class _Values:
    """The strings of one response, plain and escaped for each kind of template."""

    __slots__ = ("canonical", "plain", "serialised")

    def __init__(self, plain: list[str]) -> None:
        self.plain = plain
        self.canonical: list[str] | None = None
        self.serialised: list[str] | None = None
        joined = "".join(plain)
        if _SPECIAL.search(joined) is None:
            return
        if _TREE_ONLY.search(joined) is not None:
            raise _TreePath
        self.canonical = [
            escape(value)
            for value in plain
            for escape in (_escape_text, _escape_attribute_canonical)
        ]
        self.serialised = [
            escape(value)
            for value in plain
            for escape in (_escape_text, _escape_attribute_serialised)
        ]

    def add(self, computed: str) -> None:
        """Append a value that needs no escaping (a digest or signature in base64)."""
        self.plain.append(computed)
        if self.canonical is not None and self.serialised is not None:
            self.canonical += (computed, computed)
            self.serialised += (computed, computed)

    def fill(self, template: _Template, *, canonical: bool) -> bytes:
        escaped = self.canonical if canonical else self.serialised
        if escaped is None:
            return template.fill(self.plain, template.plain).encode()
        return template.fill(escaped, template.by_context).encode()


# --- the shape of a spec and its strings -----------------------------------------------------

# What each spec field holds, from its type hint. A value of another type (negative tests build
# those) takes the tree path: a string where a flag or a sequence belongs is truthy or iterable
# in its own way, which placeholders would not reproduce.
_TEXT, _TIME, _FLAG, _COUNT, _TEXTS, _ATTRIBUTES = range(6)  # _TEXT must be 0: see _flatten
_KIND_OF_HINT: dict[object, int] = {
    str: _TEXT,
    str | None: _TEXT,
    dt.datetime: _TIME,
    dt.datetime | None: _TIME,
    bool: _FLAG,
    int: _COUNT,
    tuple[str, ...]: _TEXTS,
    tuple[SamlAttribute, ...]: _ATTRIBUTES,
}


@dataclass(frozen=True)
class _Layout:
    """A spec class's fields, in order, with what each holds."""

    names: tuple[str, ...]
    kinds: tuple[int, ...]
    values: Callable[[Any], tuple[Any, ...]]
    """Return the fields' values, in order."""


def _layout(spec_class: type) -> _Layout:
    hints = get_type_hints(spec_class)
    names = tuple(spec_field.name for spec_field in fields(spec_class))
    unknown = [name for name in names if hints[name] not in _KIND_OF_HINT]
    if unknown:
        raise TypeError(f"{spec_class.__name__}: no template kind for the fields {unknown}")
    return _Layout(names, tuple(_KIND_OF_HINT[hints[name]] for name in names), attrgetter(*names))


_LAYOUTS = {spec: _layout(spec) for spec in (AssertionSpec, ResponseSpec, SamlAttribute)}


def _flatten(
    spec: Any, shape: list[object], values: list[str], times: dict[tuple[dt.datetime, int], str]
) -> None:
    """Append ``spec``'s shape and strings, in field order; raise _TreePath on odd values.

    The shape is each field's type, plus the value of a flag or count and the length of a
    sequence. ``times`` memoises formatted times: equal datetimes are the same instant unless
    their ``fold`` differs (the repeated hour when clocks go back).
    """
    layout = _LAYOUTS.get(type(spec))
    if layout is None:
        raise _TreePath
    field_values = layout.values(spec)
    shape += map(type, field_values)
    append = values.append
    for value, kind in zip(field_values, layout.kinds, strict=True):
        if kind == 0:  # _TEXT, the most common: compared as a literal, no global lookups
            if type(value) is str or isinstance(value, str):
                append(value)
            elif value is not None:
                raise _TreePath
        elif kind == _TIME:
            if isinstance(value, dt.datetime):
                append(times.get((value, value.fold)) or _time(value, times))
            elif value is not None:
                raise _TreePath
        elif (kind == _FLAG and type(value) is bool) or (kind == _COUNT and type(value) is int):
            shape.append(value)
        elif (kind == _TEXTS or kind == _ATTRIBUTES) and type(value) in (tuple, list):
            shape.append(len(value))
            for item in value:
                if kind == _TEXTS and isinstance(item, str):
                    append(item)
                elif kind == _ATTRIBUTES and type(item) is SamlAttribute:
                    _flatten(item, shape, values, times)
                else:
                    raise _TreePath
        else:
            raise _TreePath


def _time(moment: dt.datetime, times: dict[tuple[dt.datetime, int], str]) -> str:
    try:
        text = saml_time(moment)
    except Exception:  # noqa: BLE001 - naive, out of range, a tzinfo that fails: the tree path
        raise _TreePath from None  # says so, if it reads this field at all
    times[moment, moment.fold] = text
    return text


class _Placeholders:
    """Gives each string and time of a spec a unique placeholder, in :func:`_flatten`'s order."""

    def __init__(self) -> None:
        self.count = 0
        self.times: dict[str, str] = {}

    def next(self) -> str:
        self.count += 1
        return f"\ue000{self.count - 1}\ue001"

    def time(self) -> dt.datetime:
        moment = _TIME_ORIGIN + dt.timedelta(seconds=self.count)
        self.times[saml_time(moment)] = self.next()
        return moment

    def spec(self, spec: Any) -> Any:
        """Return ``spec`` (already through :func:`_flatten`) with placeholders for its values."""
        layout = _LAYOUTS[type(spec)]
        changes: dict[str, object] = {}
        for name, value, kind in zip(layout.names, layout.values(spec), layout.kinds, strict=True):
            if value is None:
                continue
            if kind == _TEXT:
                changes[name] = self.next()
            elif kind == _TIME:
                changes[name] = self.time()
            elif kind == _TEXTS:
                changes[name] = type(value)(self.next() for _ in value)
            elif kind == _ATTRIBUTES:
                changes[name] = type(value)(self.spec(item) for item in value)
        return replace(spec, **changes)

    def cut(self, serialised: bytes) -> _Template:
        text = serialised.decode()
        for time_text, placeholder in self.times.items():
            text = text.replace(time_text, placeholder)
        return _Template(text)


def _compile(
    assertion_spec: AssertionSpec, response_spec: ResponseSpec, signing: SigningConfig
) -> _Compiled:
    placeholders = _Placeholders()
    assertion = build_assertion(placeholders.spec(assertion_spec))
    response = build_response(placeholders.spec(response_spec), assertion)
    signed: list[_Signed | None] = []
    targets = ((assertion, signing.target.assertion), (response, signing.target.response))
    for element, wanted in targets:
        # The digest and signature values of each element take the next two slots, signed or not.
        if not wanted:
            placeholders.next(), placeholders.next()
            signed.append(None)
            continue
        canonical = placeholders.cut(exclusive_c14n(element))
        signature = sign_element(
            element,
            signing.key,
            algorithm=signing.algorithm,
            digest=signing.digest,
            include_certificate=signing.include_certificate,
        )
        signed_info = signature.find(_SIGNED_INFO)
        digest_value = signature.find(_DIGEST_VALUE)
        signature_value = signature.find(_SIGNATURE_VALUE)
        assert signed_info is not None and digest_value is not None  # noqa: S101 - xmlsec's
        assert signature_value is not None  # noqa: S101 - template always has them
        digest_value.text = placeholders.next()
        signature_value.text = placeholders.next()
        signed.append(_Signed(canonical, placeholders.cut(exclusive_c14n(signed_info))))
    return _Compiled(signed[0], signed[1], placeholders.cut(to_bytes(response)))


_compiled: dict[tuple[object, ...], _Compiled | str | None] = {}
"""Shapes, first in first out: compiled; ``_SEEN_ONCE``; ``None`` for the tree path's."""
_SEEN_ONCE = "seen once"
_compiling = threading.Lock()


def _new_lock_after_fork() -> None:
    # A fork while another thread compiles would leave the child a lock nobody releases
    # (gunicorn forks its workers from a process that may have issued responses).
    global _compiling  # noqa: PLW0603
    _compiling = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


def _write(compiled: _Compiled, values: _Values, signing: SigningConfig) -> bytes:
    for signed in (compiled.assertion, compiled.response):
        if signed is None:
            values.add("")
            values.add("")
            continue
        digest = _HASHLIB[signing.digest or DIGEST_FOR[signing.algorithm]]
        canonical = values.fill(signed.canonical, canonical=True)
        values.add(base64_lines(digest(canonical).digest()))
        signed_info = values.fill(signed.signed_info, canonical=True)
        rsa_hash = _RSA_HASHES[signing.algorithm]
        values.add(base64_lines(signing.key.private_key.sign(signed_info, _PKCS1, rsa_hash)))
    return values.fill(compiled.document, canonical=False)


def _remember(shape: tuple[object, ...], compiled: _Compiled | str | None) -> None:
    if shape not in _compiled and len(_compiled) >= _MAX_SHAPES:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread's
            del _compiled[next(iter(_compiled))]
    _compiled[shape] = compiled


def _compile_shape(
    shape: tuple[object, ...],
    values: _Values,
    assertion_spec: AssertionSpec,
    response_spec: ResponseSpec,
    signing: SigningConfig,
) -> bytes:
    """Compile a shape, and keep it only if it writes this response as the tree path does."""
    written = tree_response(assertion_spec, response_spec, signing)  # raises what it raises
    try:
        compiled: _Compiled | None = _compile(assertion_spec, response_spec, signing)
    except Exception:  # noqa: BLE001 - placeholders the tree path refuses: it writes this shape
        compiled = None
    if compiled is not None and _write(compiled, values, signing) != written:
        log.warning("compiled template differs from the tree path; that shape takes the tree path")
        compiled = None
    _remember(shape, compiled)
    return written


def _render(
    assertion_spec: AssertionSpec, response_spec: ResponseSpec, signing: SigningConfig
) -> bytes:
    shape_list: list[object] = [signing]
    strings: list[str] = []
    times: dict[tuple[dt.datetime, int], str] = {}
    _flatten(assertion_spec, shape_list, strings, times)
    _flatten(response_spec, shape_list, strings, times)
    if (signing.target.assertion and not assertion_spec.assertion_id) or (
        signing.target.response and not response_spec.response_id
    ):
        raise _TreePath  # which refuses to sign an element without an ID
    values = _Values(strings)
    shape = tuple(shape_list)
    try:
        compiled = _compiled[shape]
    except KeyError:
        # A one-off shape is not worth compiling (a CLI run issues a handful of responses):
        # the tree path writes the first response of a shape, the second compiles it.
        _remember(shape, _SEEN_ONCE)
        raise _TreePath from None
    except TypeError:  # an unhashable value in the signing settings
        raise _TreePath from None
    if compiled is _SEEN_ONCE:
        with _compiling:  # threads of the web IdP: one compiles, the others wait for it
            compiled = _compiled.get(shape)
            if compiled is _SEEN_ONCE:
                return _compile_shape(shape, values, assertion_spec, response_spec, signing)
    if not isinstance(compiled, _Compiled):
        raise _TreePath
    return _write(compiled, values, signing)


def signed_response(
    assertion_spec: AssertionSpec, response_spec: ResponseSpec, signing: SigningConfig
) -> bytes:
    """Return the serialised Response holding the assertion, signed as ``signing`` says.

    The same bytes as :func:`tree_response` writes. The first two responses of each shape are
    written by the tree path, and the second compiles the shape (kept only if its templates
    write that response byte for byte); later ones cost one RSA operation and a few
    microseconds.
    """
    try:
        return _render(assertion_spec, response_spec, signing)
    except _TreePath:
        return tree_response(assertion_spec, response_spec, signing)


def tree_response(
    assertion_spec: AssertionSpec, response_spec: ResponseSpec, signing: SigningConfig
) -> bytes:
    """Return the Response built as lxml trees, signed by xmlsec (:func:`sign_response`)."""
    response = build_response(response_spec, build_assertion(assertion_spec))
    return to_bytes(sign_response(response, signing))


def compiled_shapes() -> int:
    """Return how many shapes are compiled (for tests and diagnostics)."""
    return sum(1 for compiled in list(_compiled.values()) if isinstance(compiled, _Compiled))


def clear() -> None:
    """Forget every compiled shape."""
    with _compiling:
        _compiled.clear()
