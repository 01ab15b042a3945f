"""The pure SAML parts: decoding bindings, verifying request signatures, logout messages."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree

from idp.saml.authn_request import (
    Binding,
    ExpiredRequestError,
    SignatureInvalidError,
    check_age,
    decode_post,
    decode_redirect,
    is_signed,
    parse_authn_request,
    verify_signature,
)
from idp.saml.keys import KeyPair
from idp.saml.logout import (
    build_logout_request,
    build_logout_response,
    new_logout_request,
    parse_logout_request,
    parse_logout_response,
    redirect_url,
)
from tests.idp.web.messages import authn_request, post_form, redirect_query


def _split(url: str) -> tuple[dict[str, str], bytes]:
    query = urlsplit(url).query
    return dict(parse_qsl(query)), query.encode()


def test_redirect_request_fields_are_read(now: dt.datetime) -> None:
    element = authn_request(
        acs="https://sp/acs",
        force_authn=True,
        is_passive=True,
        name_id_format="urn:x",
        issue_instant=now,
        request_id="_r1",
    )
    params, raw = _split("?" + redirect_query(element, "relay"))
    message = decode_redirect(params, raw)
    parsed = parse_authn_request(message.root)
    assert (message.binding, message.relay_state) == (Binding.REDIRECT, "relay")
    assert (
        parsed.request_id,
        parsed.acs_url,
        parsed.force_authn,
        parsed.is_passive,
        parsed.name_id_format,
        parsed.issue_instant,
    ) == ("_r1", "https://sp/acs", True, True, "urn:x", now)
    assert not is_signed(message, params)


def test_unencoded_plus_in_a_redirect_still_decodes() -> None:
    query = redirect_query(authn_request(request_id="_plus"))
    params = dict(parse_qsl(query.replace("%2B", "+")))  # '+' arrives as ' '
    assert parse_authn_request(decode_redirect(params, query.encode()).root).request_id == "_plus"


def test_redirect_signature_verifies_only_with_the_pinned_certificate(
    sp_key: KeyPair, idp_key: KeyPair
) -> None:
    url = redirect_url(
        "https://idp/sso", "SAMLRequest", authn_request(), key=sp_key, relay_state="a b&c"
    )
    params, raw = _split(url)
    message = decode_redirect(params, raw)
    assert is_signed(message, params)
    verify_signature(message, params, [idp_key.cert_pem, sp_key.cert_pem])
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        verify_signature(message, params, [idp_key.cert_pem])


def test_enveloped_signature_ignores_the_certificate_it_carries(
    sp_key: KeyPair, idp_key: KeyPair
) -> None:
    signed_by_idp = post_form(authn_request(), key=idp_key)  # KeyInfo holds the IdP's cert
    message = decode_post(signed_by_idp)
    assert is_signed(message, signed_by_idp)
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        verify_signature(message, signed_by_idp, [sp_key.cert_pem])
    verify_signature(message, signed_by_idp, [idp_key.cert_pem])


def test_signed_request_without_registered_certificate_is_refused(sp_key: KeyPair) -> None:
    fields = post_form(authn_request(), key=sp_key)
    with pytest.raises(SignatureInvalidError, match="no certificate is registered"):
        verify_signature(decode_post(fields), fields, [])


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (dt.timedelta(minutes=-6), "has expired"),
        (dt.timedelta(minutes=2), "in the future"),
    ],
    ids=["too-old", "future"],
)
def test_age_is_bounded(now: dt.datetime, offset: dt.timedelta, message: str) -> None:
    with pytest.raises(ExpiredRequestError, match=message):
        check_age(
            now + offset, now=now, max_age=dt.timedelta(minutes=5), skew=dt.timedelta(seconds=30)
        )


@pytest.mark.parametrize(
    "offset",
    [dt.timedelta(minutes=-5), dt.timedelta(seconds=30)],
    ids=["oldest-accepted", "skew-accepted"],
)
def test_age_within_limits_is_accepted(now: dt.datetime, offset: dt.timedelta) -> None:
    check_age(now + offset, now=now, max_age=dt.timedelta(minutes=5), skew=dt.timedelta(seconds=30))


def test_logout_request_round_trips_through_redirect(idp_key: KeyPair, now: dt.datetime) -> None:
    outgoing = new_logout_request(
        issuer="https://idp",
        destination="https://sp/slo",
        name_id="alice",
        name_id_format="urn:f",
        session_index="_s1",
        sp_name_qualifier="sp",
        now=now,
    )
    url = redirect_url(
        "https://sp/slo",
        "SAMLRequest",
        build_logout_request(outgoing),
        key=idp_key,
        relay_state="rs",
    )
    params, raw = _split(url)
    message = decode_redirect(params, raw)
    verify_signature(message, params, [idp_key.cert_pem])
    parsed = parse_logout_request(message.root)
    assert (parsed.request_id, parsed.issuer, parsed.destination) == (
        outgoing.request_id,
        "https://idp",
        "https://sp/slo",
    )
    assert parsed.not_on_or_after == now + dt.timedelta(minutes=5)
    assert message.relay_state == "rs"
    assert (parsed.name_id, parsed.session_indexes, parsed.sp_name_qualifier) == (
        "alice",
        ("_s1",),
        "sp",
    )


def test_logout_response_is_read(now: dt.datetime) -> None:
    element = build_logout_response(
        issuer="https://sp", in_response_to="_q", now=now, destination="https://idp/slo"
    )
    parsed = parse_logout_response(etree.fromstring(etree.tostring(element)))
    assert parsed.succeeded and parsed.in_response_to == "_q" and parsed.issuer == "https://sp"
