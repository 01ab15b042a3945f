"""Settings of the web IdP (the ``idp.web`` key) and the SP trust they resolve to.

The web layer needs to know more about each registered service provider than the response
builder does: the entityID its AuthnRequests carry, whether they must be signed and with which
certificates, the other ACS URLs it may ask for, and where its single-logout endpoint is. These
come from the SP's metadata file, from explicit settings, or both (explicit settings win).
"""

from __future__ import annotations

import base64
import binascii
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from idp.errors import IdpError
from idp.saml.constants import NS, Binding, qname
from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from idp.yamlfile import LoadedYaml, SchemaError, validate

if TYPE_CHECKING:  # idp.config imports this module for its ``web`` field
    from idp.config import IdpSettings

WEB_AT = ("idp", "web")
"""Where the web settings sit in an IdP or scenario file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebServiceProvider(_Strict):
    """What the web IdP knows about one SP registered under ``idp.service_providers``."""

    entity_id: str | None = Field(
        None, description="The SP's entityID (Issuer of its requests); from metadata if absent."
    )
    metadata: Path | None = Field(
        None,
        description="The SP's metadata XML: entityID, AuthnRequestsSigned, signing "
        "certificates, ACS and SingleLogoutService endpoints.",
    )
    want_authn_requests_signed: bool | None = Field(
        None,
        description="Refuse unsigned AuthnRequests and LogoutRequests; as the metadata's "
        "AuthnRequestsSigned says when absent (false without metadata).",
    )
    signing_certs: list[Path] = Field(
        default_factory=list,
        description="PEM certificates that verify the SP's requests (added to the metadata's).",
    )
    acs_urls: list[str] = Field(
        default_factory=list, description="Other ACS URLs the SP may ask for, besides its 'acs'."
    )
    slo_url: str | None = Field(None, description="The SP's SingleLogoutService URL.")
    slo_binding: Literal["redirect", "post"] | None = Field(
        None, description="Binding of the SLO URL; from metadata, else redirect."
    )
    slo_response_url: str | None = Field(
        None,
        description="Where the SP takes LogoutResponses when not at slo_url (metadata: the "
        "SingleLogoutService ResponseLocation).",
    )
    relay_state: str | None = Field(
        None, description="RelayState sent with IdP-initiated sign-in (AWS: a console URL)."
    )
    post_to: str | None = Field(
        None,
        description="Where the browser posts responses instead of the ACS (a local "
        "emulation of the SP); Recipient and Destination stay the ACS.",
    )


class WebSettings(_Strict):
    """The web IdP: login pages, SP-initiated SSO, logout."""

    service_providers: dict[str, WebServiceProvider] = Field(
        default_factory=dict,
        description="Per-SP web settings, by the names of idp.service_providers.",
    )
    preview: bool = Field(
        True, description="After an interactive login, show the XML before posting it."
    )
    request_max_age: Annotated[int, Field(gt=0, le=86400)] = Field(
        300, description="Seconds an AuthnRequest or LogoutRequest stays acceptable."
    )
    clock_skew: Annotated[int, Field(ge=0, le=3600)] = Field(
        60, description="Seconds of clock difference allowed with SPs."
    )
    login_timeout: Annotated[int, Field(gt=0, le=86400)] = Field(
        900, description="Seconds a login page stays usable for the request it answers."
    )
    session_lifetime: Annotated[int, Field(gt=0, le=7 * 86400)] = Field(
        28800, description="Seconds an IdP session lasts (single sign-on without login)."
    )
    allow_sha1: bool = Field(
        False, description="Accept RSA-SHA1 request signatures (refused by default)."
    )


@dataclass(frozen=True)
class SpTrust:
    """What the IdP trusts and accepts for one SP, resolved from settings and metadata."""

    name: str
    entity_id: str | None
    acs_urls: tuple[str, ...]
    """Registered ACS URLs: the SP's 'acs' first (the default), then the others."""
    acs_indexes: Mapping[int, str]
    """ACS URLs by the index the SP's metadata gives them (AssertionConsumerServiceIndex)."""
    want_requests_signed: bool
    certificates: tuple[bytes, ...]
    """PEM certificates that verify its requests."""
    slo_url: str | None
    slo_binding: Literal["redirect", "post"]
    relay_state: str | None
    post_to: str | None = None
    """Where the browser posts responses when not to the ACS itself (the ACS stays Recipient)."""
    slo_response_url: str | None = None
    """Where LogoutResponses go when not to ``slo_url`` (metadata's ResponseLocation)."""

    @property
    def slo_answer_url(self) -> str | None:
        """Return where LogoutResponses go: the ResponseLocation, else the SLO URL (metadata
        §2.2.2)."""
        return self.slo_response_url or self.slo_url


class WebSettingsError(IdpError):
    """The web settings or an SP metadata file they name cannot be used."""

    code = "web_settings"


def load_web_settings(loaded: LoadedYaml, idp: IdpSettings) -> WebSettings:
    """Validate ``idp.web`` of a loaded file; errors are ``file:line: message``."""
    data = loaded.data.get("idp") if isinstance(loaded.data, dict) else None
    if not isinstance(data, dict) or data.get("web") is None:
        return WebSettings()
    settings = validate(WebSettings, loaded, at=WEB_AT)
    for name in settings.service_providers:
        if name not in idp.service_providers:
            known = ", ".join(sorted(idp.service_providers))
            raise SchemaError(
                loaded.path,
                loaded.line_of((*WEB_AT, "service_providers", name)),
                f"idp.web.service_providers.{name}: no service provider {name!r} is registered "
                f"under idp.service_providers (registered: {known})",
            )
    return settings


def resolve_trust(idp: IdpSettings, web: WebSettings, base_dir: Path) -> dict[str, SpTrust]:
    """Return every registered SP's trust, reading the metadata and certificate files."""
    trusts: dict[str, SpTrust] = {}
    for name, sp in idp.service_providers.items():
        extra = web.service_providers.get(name, WebServiceProvider())
        described = _read_sp_metadata(base_dir / extra.metadata) if extra.metadata else None
        certificates = [
            *(described.certificates if described else ()),
            *(_read_pem(base_dir / path) for path in extra.signing_certs),
        ]
        acs = [sp.acs, *extra.acs_urls, *(described.acs_urls if described else ())]
        want = extra.want_authn_requests_signed
        if want is None:
            want = described.authn_requests_signed if described else False
        if want and not certificates:
            raise WebSettingsError(
                f"service provider {name!r} must sign its requests but no certificate is "
                f"given to check them (idp.web.service_providers.{name}.signing_certs or "
                "metadata)"
            )
        slo_url, slo_binding = extra.slo_url, extra.slo_binding
        slo_response_url = extra.slo_response_url
        if slo_url is None and described is not None and described.slo is not None:
            slo_url, described_binding, described_response = described.slo
            slo_binding = slo_binding or described_binding
            slo_response_url = slo_response_url or described_response
        trusts[name] = SpTrust(
            name=name,
            entity_id=extra.entity_id or (described.entity_id if described else None),
            acs_urls=tuple(dict.fromkeys(acs)),
            acs_indexes=dict(described.acs_indexes) if described else {},
            want_requests_signed=want,
            certificates=tuple(dict.fromkeys(certificates)),
            slo_url=slo_url,
            slo_binding=slo_binding or "redirect",
            relay_state=extra.relay_state,
            post_to=extra.post_to,
            slo_response_url=slo_response_url,
        )
    return trusts


@dataclass(frozen=True)
class _SpMetadata:
    entity_id: str | None
    authn_requests_signed: bool
    certificates: tuple[bytes, ...]
    acs_urls: tuple[str, ...]
    acs_indexes: Mapping[int, str]
    slo: tuple[str, Literal["redirect", "post"], str | None] | None
    """Location, binding and ResponseLocation of the first usable SingleLogoutService."""


_BINDINGS: Mapping[str, Literal["redirect", "post"]] = {
    Binding.HTTP_REDIRECT.value: "redirect",
    Binding.HTTP_POST.value: "post",
}


def _read_sp_metadata(path: Path) -> _SpMetadata:
    try:
        root = parse_xml(path.read_bytes())
    except OSError as exc:
        raise WebSettingsError(f"{path}: cannot read SP metadata: {exc.strerror}") from None
    except UnsafeXmlError as exc:
        raise WebSettingsError(f"{path}: not usable SP metadata: {exc}") from None
    if root.tag != qname(NS.MD, "EntityDescriptor"):
        raise WebSettingsError(f"{path}: SP metadata must be an md:EntityDescriptor")
    descriptor = root.find(qname(NS.MD, "SPSSODescriptor"))
    if descriptor is None:
        raise WebSettingsError(f"{path}: the metadata has no md:SPSSODescriptor")
    certificates: list[bytes] = []
    for key_descriptor in descriptor.iterfind(qname(NS.MD, "KeyDescriptor")):
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for cert in key_descriptor.iterfind(f".//{qname(NS.DS, 'X509Certificate')}"):
            certificates.append(_pem_from_base64(cert.text or "", path))
    acs = [
        e
        for e in descriptor.iterfind(qname(NS.MD, "AssertionConsumerService"))
        if e.get("Binding") == Binding.HTTP_POST and e.get("Location")
    ]
    slo = None
    for service in descriptor.iterfind(qname(NS.MD, "SingleLogoutService")):
        binding = _BINDINGS.get(service.get("Binding") or "")
        if binding is not None and service.get("Location"):
            slo = (service.get("Location", ""), binding, service.get("ResponseLocation") or None)
            break
    return _SpMetadata(
        entity_id=root.get("entityID"),
        authn_requests_signed=descriptor.get("AuthnRequestsSigned") in ("true", "1"),
        certificates=tuple(certificates),
        acs_urls=tuple(e.get("Location", "") for e in acs),
        acs_indexes={
            int(e.get("index", "")): e.get("Location", "")
            for e in acs
            if e.get("index", "").isdigit()
        },
        slo=slo,
    )


def _pem_from_base64(text: str, path: Path) -> bytes:
    compact = "".join(text.split())
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise WebSettingsError(f"{path}: a signing certificate is not base64") from None
    body = "\n".join(textwrap.wrap(compact, 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode("ascii")


def _read_pem(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WebSettingsError(f"{path}: cannot read certificate: {exc.strerror}") from None
