"""The hardened parser never opens a file or URL a DOCTYPE names, and refuses every DOCTYPE alike.

libxml2 loads an external DTD subset and the parameter entities of an internal subset from local
paths even with ``load_dtd=False, no_network=True``: that leaked whether a file exists (different
error texts) and hung the verifier on a FIFO. These tests prove the file is never opened with a
FIFO watcher: a thread opens the FIFO for writing, which blocks until someone opens it for
reading, so if the parser ever opened it the watcher's ``open`` would return during the parse.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from idp.saml import xmlparse
from idp.saml.xmlparse import DOCTYPE_REFUSED, UnsafeXmlError, declares_doctype, parse_xml
from sp_fixtures.xmldsig import ErrorCode, VerificationError, parse_response_bytes

BODY = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"/>'
#: How long a parse may take before the test calls it hung (a real parse takes milliseconds).
PROMPT = 5.0


def _refusal(document: bytes) -> str:
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(document)
    assert caught.value.code == "unsafe_xml"
    return str(caught.value)


def run_promptly(action: Callable[[], object]) -> object:
    """Run ``action`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(PROMPT)
    if worker.is_alive():
        pytest.fail(f"the call did not finish within {PROMPT} s (blocked on a file? a transform?)")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("result")


@dataclass
class FifoWatcher:
    """A FIFO plus a writer thread that records whether anybody opened the FIFO for reading."""

    path: Path
    opened_by_reader: bool = False
    _released: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        os.mkfifo(self.path)
        self._thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._thread.start()

    def _wait_for_reader(self) -> None:
        # Blocks until the FIFO is opened for reading: by the parser (a regression) or by stop().
        descriptor = os.open(self.path, os.O_WRONLY)
        self.opened_by_reader = not self._released.is_set()
        os.close(descriptor)  # a reader sees end of file, so a regressed parser moves on

    def stop(self) -> None:
        """Release the writer by opening the FIFO for reading ourselves."""
        self._released.set()
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert self._thread is not None
            self._thread.join(PROMPT)
        finally:
            os.close(reader)
        assert self._thread is not None and not self._thread.is_alive()


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[FifoWatcher]:
    watcher = FifoWatcher(tmp_path / "blocking.fifo")
    watcher.start()
    yield watcher
    watcher.stop()


def _external_references(path: str) -> dict[str, str]:
    """DOCTYPEs that make libxml2 load ``path`` unless the parser stops it."""
    return {
        "external-subset-path": f"<!DOCTYPE samlp:Response SYSTEM '{path}'>",
        "external-subset-file-uri": f"<!DOCTYPE samlp:Response SYSTEM 'file://{path}'>",
        "external-subset-public": f"<!DOCTYPE samlp:Response PUBLIC '-//X//EN' '{path}'>",
        "parameter-entity-file-uri": (
            f"<!DOCTYPE samlp:Response [<!ENTITY % f SYSTEM 'file://{path}'> %f;]>"
        ),
        "parameter-entity-path": f"<!DOCTYPE samlp:Response [<!ENTITY % f SYSTEM '{path}'> %f;]>",
        "general-entity-used": (
            f"<!DOCTYPE samlp:Response [<!ENTITY f SYSTEM 'file://{path}'>]>"
            '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r">'
            "&f;</samlp:Response>"
        ),
        # The error-based local-DTD trick: a content-leaking error names the file's bytes.
        "local-dtd-error-leak": (
            "<!DOCTYPE samlp:Response ["
            f"<!ENTITY % file SYSTEM 'file://{path}'>"
            "<!ENTITY % eval \"<!ENTITY &#x25; error SYSTEM 'file:///nonexistent/%file;'>\">"
            "%eval; %error;]>"
        ),
    }


SHAPES = sorted(_external_references("/x"))
#: The shapes libxml2 parses through to the load (the error-leak one is not well-formed in an
#: internal subset, so libxml2 stops before loading anything).
LOADING_SHAPES = [shape for shape in SHAPES if shape != "local-dtd-error-leak"]


def _document(shape: str, path: str) -> bytes:
    doctype = _external_references(path)[shape]
    return (doctype if doctype.endswith("</samlp:Response>") else doctype + BODY).encode()


@pytest.fixture
def existing_file(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-42")
    return secret


# --- (a) no file-existence oracle ----------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_existing_and_missing_file_give_the_identical_refusal(
    shape: str, existing_file: Path, tmp_path: Path
) -> None:
    found = _refusal(_document(shape, str(existing_file)))
    missing = _refusal(_document(shape, str(tmp_path / "missing.txt")))

    assert found == missing == DOCTYPE_REFUSED
    assert "TOPSECRET" not in found


@pytest.mark.parametrize("shape", SHAPES)
def test_verifier_reports_existing_and_missing_file_alike(
    shape: str, existing_file: Path, tmp_path: Path
) -> None:
    refusals = []
    for path in (existing_file, tmp_path / "missing.txt", Path("/etc/shadow")):
        with pytest.raises(VerificationError) as caught:
            parse_response_bytes(_document(shape, str(path)))
        refusals.append((caught.value.code, caught.value.message))

    assert refusals == [(ErrorCode.DTD_REFUSED, DOCTYPE_REFUSED)] * 3


# --- (b) and (d): a FIFO is never opened, so nothing blocks ---------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_fifo_named_by_a_doctype_is_never_opened(shape: str, fifo: FifoWatcher) -> None:
    document = _document(shape, str(fifo.path))

    with pytest.raises(UnsafeXmlError, match=f"^{DOCTYPE_REFUSED}$"):
        run_promptly(lambda: parse_xml(document))

    assert not fifo.opened_by_reader


@pytest.mark.parametrize("shape", SHAPES)
def test_resolver_alone_never_opens_the_fifo(
    shape: str, fifo: FifoWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second layer: even if the DOCTYPE pre-scan missed it, libxml2 never reaches the file."""
    monkeypatch.setattr(xmlparse, "declares_doctype", lambda document: False)
    document = _document(shape, str(fifo.path))

    with pytest.raises(UnsafeXmlError):
        run_promptly(lambda: parse_xml(document))

    assert not fifo.opened_by_reader


@pytest.mark.parametrize("shape", LOADING_SHAPES)
def test_resolver_alone_gives_no_existence_oracle(
    shape: str, existing_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlparse, "declares_doctype", lambda document: False)

    found = _refusal(_document(shape, str(existing_file)))
    missing = _refusal(_document(shape, str(tmp_path / "missing.txt")))

    assert found == missing == DOCTYPE_REFUSED


def test_fifo_watcher_detects_a_reader(fifo: FifoWatcher) -> None:
    """Positive control: the watcher does notice a reader, so the tests above can fail."""
    descriptor = os.open(fifo.path, os.O_RDONLY)
    try:
        assert os.read(descriptor, 1) == b""  # the writer opened and closed it again
    finally:
        os.close(descriptor)
    assert fifo.opened_by_reader


def test_fifo_watcher_catches_libxml2_without_the_resolver(fifo: FifoWatcher) -> None:
    """Positive control: libxml2's own loader does open the FIFO, and the watcher sees it.

    These are the parser options of the audited parser, without the resolver. libxml2 2.14 loads
    the external subset once ``collect_ids=False`` is set, even with ``load_dtd=False``.
    """
    unprotected = etree.XMLParser(
        load_dtd=False, no_network=True, resolve_entities=False, collect_ids=False
    )
    document = _document("external-subset-path", str(fifo.path))

    run_promptly(lambda: etree.fromstring(document, parser=unprotected))

    if not fifo.opened_by_reader:
        pytest.skip("this libxml2 no longer loads an external subset without load_dtd")


# --- (c) every encoding -------------------------------------------------------------------------

ENCODINGS = [
    ("utf-8", b""),
    ("utf-8", b"\xef\xbb\xbf"),
    ("utf-16-le", b""),
    ("utf-16-le", b"\xff\xfe"),
    ("utf-16-be", b""),
    ("utf-16-be", b"\xfe\xff"),
    ("utf-32-le", b""),
    ("utf-32-le", b"\xff\xfe\x00\x00"),
    ("utf-32-be", b""),
    ("utf-32-be", b"\x00\x00\xfe\xff"),
]
ENCODING_IDS = [f"{name}{'-bom' if bom else ''}" for name, bom in ENCODINGS]


def _encoded(text: str, encoding: str, bom: bytes, *, declaration: bool) -> bytes:
    label = encoding.upper().replace("-LE", "").replace("-BE", "")
    prefix = f'<?xml version="1.0" encoding="{label}"?>\n' if declaration else ""
    return bom + (prefix + text).encode(encoding)


@pytest.mark.parametrize("declaration", [True, False], ids=["declared", "undeclared"])
@pytest.mark.parametrize(("encoding", "bom"), ENCODINGS, ids=ENCODING_IDS)
@pytest.mark.parametrize("shape", ["parameter-entity-file-uri", "external-subset-path"])
def test_doctype_is_refused_alike_in_every_encoding(
    shape: str,
    encoding: str,
    bom: bytes,
    declaration: bool,
    existing_file: Path,
    tmp_path: Path,
    fifo: FifoWatcher,
) -> None:
    for path in (existing_file, tmp_path / "missing.txt", fifo.path):
        text = _document(shape, str(path)).decode()
        document = _encoded(text, encoding, bom, declaration=declaration)
        assert declares_doctype(document)
        assert run_promptly(lambda document=document: _refusal(document)) == DOCTYPE_REFUSED
        with pytest.raises(VerificationError) as caught:
            parse_response_bytes(document)
        assert (caught.value.code, caught.value.message) == (
            ErrorCode.DTD_REFUSED,
            DOCTYPE_REFUSED,
        )
    assert not fifo.opened_by_reader


@pytest.mark.parametrize(("encoding", "bom"), ENCODINGS, ids=ENCODING_IDS)
def test_document_without_doctype_still_parses_in_every_encoding(encoding: str, bom: bytes) -> None:
    # libxml2 needs a byte order mark or an XML declaration to recognise UTF-16/32.
    document = _encoded(BODY, encoding, bom, declaration=True)

    assert not declares_doctype(document)
    assert parse_xml(document).get("ID") == "_r"


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE samlp:Response>",
        "<!doctype samlp:Response>",
        "<!DOCTYPE samlp:Response SYSTEM>",  # malformed: still the same refusal
        "<!DOCTYPE samlp:Response [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]>",
        "<!DOCTYPE response SYSTEM 'x\"><!--'>",  # ruby-saml CVE-2025-25291 shape
        "<!-- a comment --><?pi data?>\n  <!DOCTYPE samlp:Response>",
    ],
    ids=["bare", "lower-case", "malformed", "internal-entities", "roundtrip-trick", "after-misc"],
)
@pytest.mark.parametrize("declaration", [True, False], ids=["declared", "undeclared"])
def test_any_doctype_in_the_prolog_gets_the_one_refusal(doctype: str, declaration: bool) -> None:
    prefix = '<?xml version="1.0" encoding="UTF-8"?>\n' if declaration else ""

    assert _refusal((prefix + doctype + BODY).encode()) == DOCTYPE_REFUSED


def _java_escaped(text: str) -> bytes:
    return "".join(f"\\u{ord(char):04x}" for char in text).encode("ascii")


def test_encoding_python_cannot_check_is_refused_before_libxml2(
    fifo: FifoWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libxml2's iconv reads encoding="JAVA" (\\u003c escapes); the pre-scan could not."""
    text = _document("external-subset-path", str(fifo.path)).decode()
    document = b'<?xml version="1.0" encoding="JAVA"?>' + _java_escaped(text)

    message = run_promptly(lambda: _refusal(document))

    assert message == "not well-formed XML: unsupported encoding 'JAVA'"
    assert not fifo.opened_by_reader
    # Without the pre-scan, libxml2 decodes it, and the resolver still keeps the file shut.
    monkeypatch.setattr(xmlparse, "declares_doctype", lambda document: False)
    assert run_promptly(lambda: _refusal(document)) == DOCTYPE_REFUSED
    assert not fifo.opened_by_reader


def test_doctype_in_a_declared_single_byte_encoding_is_refused(existing_file: Path) -> None:
    text = _document("parameter-entity-file-uri", str(existing_file)).decode()
    document = b'<?xml version="1.0" encoding="UTF-7"?>' + text.encode("utf-7")

    assert _refusal(document) == DOCTYPE_REFUSED


@pytest.mark.parametrize(
    "document",
    [
        f"<!-- <!DOCTYPE x SYSTEM '/etc/passwd'> -->{BODY}",
        BODY.replace("/>", "><x><![CDATA[<!DOCTYPE x>]]></x></samlp:Response>"),
        BODY.replace("/>", ">&lt;!DOCTYPE x&gt;</samlp:Response>"),
        BODY.replace('ID="_r"', 'ID="_r" note="&lt;!DOCTYPE x&gt;"'),
    ],
    ids=["in-a-prolog-comment", "in-cdata", "escaped-text", "escaped-attribute"],
)
def test_doctype_text_outside_the_prolog_is_not_a_doctype(document: str) -> None:
    assert not declares_doctype(document.encode())
    assert parse_xml(document).get("ID") == "_r"


def test_undeclared_entity_is_not_well_formed() -> None:
    message = _refusal(BODY.replace("/>", ">&x;</samlp:Response>").encode())

    assert message.startswith("not well-formed XML")


def test_plain_document_parses() -> None:
    assert parse_xml(BODY).tag == "{urn:oasis:names:tc:SAML:2.0:protocol}Response"
