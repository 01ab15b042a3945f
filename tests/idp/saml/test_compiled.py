"""Compiled templates write exactly what the tree builder and xmlsec write, for any spec."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
import xmlsec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLVerifier

from idp.saml import compiled
from idp.saml.builder import (
    AssertionSpec,
    ResponseSpec,
    RolePair,
    SamlAttribute,
    aws_assertion_spec,
    aws_attributes,
)
from idp.saml.constants import NSMAP, DigestAlgorithm, SignatureAlgorithm
from idp.saml.keys import KeyPair
from idp.saml.signing import SigningConfig, SignTarget
from tests.idp.saml.independent import needs_xmlsec1, xmlsec1_verify

ISSUER = "https://idp.example/saml"
ADMIN = RolePair(
    "arn:aws:iam::111111111111:role/Admin", "arn:aws:iam::111111111111:saml-provider/CorpIdP"
)


def specs(now: dt.datetime, **attributes: str) -> tuple[AssertionSpec, ResponseSpec]:
    assertion = aws_assertion_spec(
        issuer=ISSUER,
        name_id="alice",
        now=now,
        attributes=aws_attributes(
            role_pairs=[ADMIN], session_name="alice", principal_tags=attributes
        ),
    )
    return assertion, ResponseSpec(issuer=ISSUER, issue_instant=now)


def outcome(
    render: Callable[[AssertionSpec, ResponseSpec, SigningConfig], bytes],
    assertion: AssertionSpec,
    response: ResponseSpec,
    signing: SigningConfig,
) -> bytes | tuple[type[Exception], str]:
    try:
        return render(assertion, response, signing)
    except Exception as exc:  # noqa: BLE001 - the two paths must fail alike
        return type(exc), str(exc)


def assert_same(assertion: AssertionSpec, response: ResponseSpec, signing: SigningConfig) -> None:
    """As trees, and three times through signed_response: the first response of a shape is
    written by the tree path, the second compiles the shape, the third fills its templates."""
    expected = outcome(compiled.tree_response, assertion, response, signing)
    for _ in range(3):
        assert outcome(compiled.signed_response, assertion, response, signing) == expected


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    compiled.clear()


@pytest.mark.parametrize("target", list(SignTarget), ids=lambda t: t.value)
@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        (SignatureAlgorithm.RSA_SHA256, None),
        (SignatureAlgorithm.RSA_SHA1, None),
        (SignatureAlgorithm.RSA_SHA512, None),
        (SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA512),
        (SignatureAlgorithm.RSA_SHA512, DigestAlgorithm.SHA1),
    ],
    ids=["sha256", "sha1", "sha512", "rsa-sha256+sha512-digest", "rsa-sha512+sha1-digest"],
)
@pytest.mark.parametrize("certificate", [True, False], ids=["keyinfo", "no-keyinfo"])
def test_same_bytes_as_the_tree_path(
    now: dt.datetime,
    idp_key: KeyPair,
    target: SignTarget,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm | None,
    certificate: bool,
) -> None:
    signing = SigningConfig(
        key=idp_key,
        target=target,
        algorithm=algorithm,
        digest=digest,
        include_certificate=certificate,
    )
    assert_same(*specs(now, department="R&D <core> \"quoted\" 'single' ünïcødé 🔑"), signing)
    assert compiled.compiled_shapes() == 1


def test_a_second_response_of_a_shape_carries_only_its_own_values(
    now: dt.datetime, idp_key: KeyPair
) -> None:
    signing = SigningConfig(key=idp_key)
    compiled.signed_response(*specs(now, department="platform"), signing)
    assert compiled.compiled_shapes() == 0  # a shape seen once is not worth compiling
    first = compiled.signed_response(*specs(now, department="platform"), signing)  # compiles
    later = now + dt.timedelta(minutes=7)
    second_specs = specs(later, department="finance & ops")
    second = compiled.signed_response(*second_specs, signing)
    assert compiled.compiled_shapes() == 1
    assert second == compiled.tree_response(*second_specs, signing)
    assert b"platform" in first
    assert b"platform" not in second
    assert b"finance &amp; ops" in second
    assert second_specs[0].assertion_id.encode() in second
    assert second_specs[0].assertion_id.encode() not in first


def test_placeholder_lookalikes_in_values_stay_text(now: dt.datetime, idp_key: KeyPair) -> None:
    # Values are placed by position, never by searching the output: a value that looks like a
    # placeholder (or like a placeholder time) is written as it is.
    assertion, response = specs(now, department="\ue0000\ue001", cost="1001-01-01T00:00:00.000Z")
    assertion = dataclasses.replace(assertion, name_id="\ue0003\ue001")
    signing = SigningConfig(key=idp_key)
    assert_same(assertion, response, signing)
    assert "\ue0003\ue001".encode() in compiled.signed_response(assertion, response, signing)


@pytest.mark.parametrize(
    "value", ["tab\there", "line\nbreak", "carriage\rreturn"], ids=["tab", "lf", "cr"]
)
def test_tab_and_line_breaks_take_the_tree_path(
    now: dt.datetime, idp_key: KeyPair, value: str
) -> None:
    # C14N and serialisation escape these differently; the tree path writes them right.
    assertion, response = specs(now)
    assertion = dataclasses.replace(assertion, issuer=value)
    assert_same(assertion, response, SigningConfig(key=idp_key, target=SignTarget.BOTH))
    assert compiled.compiled_shapes() == 0


@pytest.mark.parametrize("value", ["nul\x00", "bell\x07", "surrogate\ud800", "nonchar\uffff"])
def test_characters_xml_forbids_are_refused_as_by_the_tree_path(
    now: dt.datetime, idp_key: KeyPair, value: str
) -> None:
    assertion, response = specs(now, department=value)
    signing = SigningConfig(key=idp_key)
    with pytest.raises(ValueError, match="XML compatible|surrogates not allowed"):
        compiled.signed_response(assertion, response, signing)
    assert_same(assertion, response, signing)


def test_naive_times_are_refused_as_by_the_tree_path(idp_key: KeyPair) -> None:
    assertion, response = specs(dt.datetime(2026, 11, 28, 12, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        compiled.signed_response(assertion, response, SigningConfig(key=idp_key))


def test_wrong_types_fail_as_in_the_tree_path(now: dt.datetime, idp_key: KeyPair) -> None:
    assertion, response = specs(now)
    signing = SigningConfig(key=idp_key)
    for wrong in (
        dataclasses.replace(assertion, version=2),  # type: ignore[arg-type]
        dataclasses.replace(assertion, audiences=(1,)),  # type: ignore[arg-type]
        dataclasses.replace(assertion, not_before="yesterday"),  # type: ignore[arg-type]
        dataclasses.replace(assertion, subject_confirmation_count=-1),
    ):
        assert_same(wrong, response, signing)


@pytest.mark.parametrize(
    "change",
    [
        {"audiences": "https://signin.aws.amazon.com/saml"},  # a str where a tuple belongs
        {"attributes": (SamlAttribute("n", "ab"),)},  # type: ignore[arg-type]
        {"conditions": ""},
        {"subject_confirmation": "yes"},
        {"authn_statement": 0},
        {"subject_confirmation_count": True},
        {"audiences": ["a", "b"]},
    ],
    ids=[
        "str-audiences",
        "str-values",
        "empty-str-flag",
        "str-flag",
        "int-flag",
        "bool-count",
        "list-audiences",
    ],
)
def test_values_of_another_type_than_the_field_are_written_as_by_the_tree_path(
    now: dt.datetime, idp_key: KeyPair, change: dict[str, object]
) -> None:
    # Placeholders would change how such a value iterates or tests true: the tree path writes it.
    assertion, response = specs(now)
    signing = SigningConfig(key=idp_key)
    assert_same(dataclasses.replace(assertion, **change), response, signing)


def test_times_the_tree_path_never_reads_do_not_matter(now: dt.datetime, idp_key: KeyPair) -> None:
    too_late = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assertion, response = specs(now)
    signing = SigningConfig(key=idp_key)
    unused = dataclasses.replace(
        assertion, subject_confirmation=False, confirmation_not_on_or_after=too_late
    )
    assert_same(unused, response, signing)
    assert isinstance(compiled.signed_response(unused, response, signing), bytes)
    # ... and an error the tree path meets first stays the error reported.
    assert_same(
        dataclasses.replace(assertion, version=2, issue_instant=too_late), response, signing
    )  # type: ignore[arg-type]


def test_times_in_a_daylight_saving_fold_are_two_instants(idp_key: KeyPair) -> None:
    new_york = ZoneInfo("America/New_York")
    first = dt.datetime(2024, 11, 3, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)  # equal as datetimes, an hour apart as instants
    assertion, response = specs(first)
    assertion = dataclasses.replace(assertion, not_on_or_after=second)
    signing = SigningConfig(key=idp_key)
    assert_same(assertion, response, signing)
    document = compiled.signed_response(assertion, response, signing)
    assert b'NotOnOrAfter="2024-11-03T06:30:00.000Z"' in document


def test_unhashable_settings_take_the_tree_path(now: dt.datetime, idp_key: KeyPair) -> None:
    signing = SigningConfig(key=idp_key, digest=[])  # type: ignore[arg-type]
    assert_same(*specs(now), signing)


def test_a_template_that_disagrees_with_the_tree_path_is_never_used(
    now: dt.datetime,
    idp_key: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Fault injection: should libxml2 ever escape differently, the first response of the shape
    # (written both ways) exposes it, and that shape is left to the tree path.
    monkeypatch.setattr(compiled, "_escape_text", lambda value: value)
    assertion, response = specs(now, department="R&D")
    signing = SigningConfig(key=idp_key)
    assert_same(assertion, response, signing)
    assert compiled.compiled_shapes() == 0
    assert "differs from the tree path" in caplog.text


def test_shapes_are_bounded(
    now: dt.datetime, idp_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled, "_MAX_SHAPES", 3)
    for count in range(1, 7):
        assertion, response = specs(now)
        tags = tuple(SamlAttribute(f"urn:tag:{i}", ("v",)) for i in range(count))
        assertion = dataclasses.replace(assertion, attributes=tags)
        assert_same(assertion, response, SigningConfig(key=idp_key))
    assert compiled.compiled_shapes() == 3
    assert len(compiled._compiled) == 3


@needs_xmlsec1
def test_independent_verifiers_accept_compiled_responses(
    now: dt.datetime, idp_key: KeyPair
) -> None:
    signing = SigningConfig(key=idp_key, target=SignTarget.BOTH)
    for _ in range(2):  # seen once, then compiled: the next response comes from the templates
        compiled.signed_response(*specs(now), signing)
    assert compiled.compiled_shapes() == 1
    document = compiled.signed_response(*specs(now, department="R&D <x>"), signing)
    for node in ("Assertion", "Response"):
        result = xmlsec1_verify(document, idp_key.cert_pem, node=node)
        assert result.returncode == 0, result.stderr
    verified = XMLVerifier().verify(document, x509_cert=idp_key.cert_pem.decode())
    assert verified.signed_xml is not None
    root = etree.fromstring(document)
    xmlsec.tree.add_ids(root, ["ID"])
    for signature in root.xpath("//ds:Signature", namespaces=NSMAP):
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(
            idp_key.cert_pem, xmlsec.constants.KeyDataFormatCertPem
        )
        context.verify(signature)


# --- any spec, any shape --------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 &<>\"'=/:#{}%\\é€🔑\ue000\ue001")),
    max_size=12,
)
_MAYBE_TEXT = st.none() | _TEXT
_TIME = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]),
)
_ATTRIBUTE = st.builds(
    SamlAttribute,
    name=_TEXT,
    values=st.lists(_TEXT, max_size=3).map(tuple),
    name_format=_MAYBE_TEXT,
    friendly_name=_MAYBE_TEXT,
    value_type=_MAYBE_TEXT,
)
_ASSERTION = st.builds(
    AssertionSpec,
    issuer=_MAYBE_TEXT,
    issue_instant=_TIME,
    name_id=_MAYBE_TEXT,
    assertion_id=_TEXT,
    name_id_format=_MAYBE_TEXT,
    name_qualifier=_MAYBE_TEXT,
    sp_name_qualifier=_MAYBE_TEXT,
    subject_confirmation=st.booleans(),
    subject_confirmation_count=st.integers(0, 2),
    recipient=_MAYBE_TEXT,
    confirmation_not_on_or_after=st.none() | _TIME,
    in_response_to=_MAYBE_TEXT,
    conditions=st.booleans(),
    not_before=st.none() | _TIME,
    audiences=st.lists(_TEXT, max_size=2).map(tuple),
    authn_statement=st.booleans(),
    authn_instant=st.none() | _TIME,
    session_index=_MAYBE_TEXT,
    attributes=st.lists(_ATTRIBUTE, max_size=3).map(tuple),
)
_RESPONSE = st.builds(
    ResponseSpec,
    issuer=_MAYBE_TEXT,
    issue_instant=_TIME,
    destination=_MAYBE_TEXT,
    response_id=_TEXT,
    in_response_to=_MAYBE_TEXT,
    status=_TEXT,
    status_message=_MAYBE_TEXT,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    assertion=_ASSERTION,
    response=_RESPONSE,
    target=st.sampled_from(list(SignTarget)),
    algorithm=st.sampled_from(list(SignatureAlgorithm)),
)
def test_same_result_as_the_tree_path_for_any_spec(
    idp_key: KeyPair,
    assertion: AssertionSpec,
    response: ResponseSpec,
    target: SignTarget,
    algorithm: SignatureAlgorithm,
) -> None:
    compiled.clear()
    signing = SigningConfig(key=idp_key, target=target, algorithm=algorithm)
    assert_same(assertion, response, signing)
    if isinstance(outcome(compiled.tree_response, assertion, response, signing), bytes):
        assert compiled.compiled_shapes() == 1  # written from the templates, not the trees


def test_threads_compile_and_fill_concurrently(now: dt.datetime, idp_key: KeyPair) -> None:
    signing = SigningConfig(key=idp_key, target=SignTarget.BOTH)
    cases = []
    for index in range(24):
        assertion, response = specs(now, department=f"dept-{index} & co")
        tags = tuple(SamlAttribute(f"urn:tag:{i}", ("v",)) for i in range(index % 4))
        cases.append((dataclasses.replace(assertion, attributes=tags), response))
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda case: compiled.signed_response(*case, signing), cases))
    assert written == [compiled.tree_response(*case, signing) for case in cases]
    assert compiled.compiled_shapes() == 4


class _FrozenClockDatetime(dt.datetime):
    """A datetime subclass, as freezegun and time-machine hand out."""


def test_datetime_subclasses_are_times_too(idp_key: KeyPair) -> None:
    moment = _FrozenClockDatetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=dt.UTC)
    assertion, response = specs(moment)
    signing = SigningConfig(key=idp_key)
    assert_same(assertion, response, signing)
    assert b'IssueInstant="2026-11-28T12:00:00.250Z"' in compiled.signed_response(
        assertion, response, signing
    )
    assert compiled.compiled_shapes() == 1


_ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-1, 3)
    | _TEXT
    | st.lists(_TEXT, max_size=2)
    | st.lists(_TEXT, max_size=2).map(tuple)
    | _TIME
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    assertion=_ASSERTION,
    response=_RESPONSE,
    wrong=st.dictionaries(
        st.sampled_from([f.name for f in dataclasses.fields(AssertionSpec)]), _ANY_VALUE, max_size=3
    ),
)
def test_same_result_as_the_tree_path_for_any_field_values(
    idp_key: KeyPair,
    assertion: AssertionSpec,
    response: ResponseSpec,
    wrong: dict[str, object],
) -> None:
    signing = SigningConfig(key=idp_key, target=SignTarget.BOTH)
    assert_same(dataclasses.replace(assertion, **wrong), response, signing)


def test_a_fork_while_a_thread_compiles_leaves_the_child_a_working_lock(
    now: dt.datetime, idp_key: KeyPair
) -> None:
    held, release = threading.Event(), threading.Event()

    def compiling() -> None:
        with compiled._compiling:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=compiling)
    thread.start()
    assert held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: without a fresh lock, compiling would wait forever
        signal.alarm(10)
        try:
            for _ in range(2):
                compiled.signed_response(*specs(now), SigningConfig(key=idp_key))
            os._exit(0 if compiled.compiled_shapes() == 1 else 1)
        except BaseException:
            os._exit(2)
    release.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_key_pair_pickles_and_signs_the_same_after(now: dt.datetime, idp_key: KeyPair) -> None:
    # The parsed key (kept from load time) does not pickle; a spawned worker parses the PEM.
    copied = pickle.loads(pickle.dumps(idp_key))  # noqa: S301 - our own bytes
    assert copied == idp_key
    assert copied.parsed_key is None and copied.private_key.key_size == 2048
    assert_same(*specs(now), SigningConfig(key=copied))  # compiled, then from the templates
