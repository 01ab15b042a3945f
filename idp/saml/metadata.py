"""IdP metadata: the document a user pastes into ``aws iam create-saml-provider``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from idp.saml.builder import saml_time
from idp.saml.constants import NS, Binding, NameIDFormat, qname
from idp.saml.keys import KeyPair


@dataclass(frozen=True)
class IdpEndpoints:
    """The URLs an SP needs to reach the IdP."""

    sso_url: str
    """SingleSignOnService location (Redirect and POST)."""
    slo_url: str
    """SingleLogoutService location (Redirect and POST)."""


@dataclass(frozen=True)
class MetadataSpec:
    """What the IdP publishes about itself."""

    entity_id: str
    signing_keys: tuple[KeyPair, ...]
    """Every key an SP should trust; during a rollover both the current and the next."""
    endpoints: IdpEndpoints
    name_id_formats: tuple[str, ...] = tuple(NameIDFormat)
    valid_until: dt.datetime | None = None
    want_authn_requests_signed: bool = False


def build_metadata(spec: MetadataSpec) -> etree._Element:
    """Build an ``md:EntityDescriptor`` with one IDPSSODescriptor."""
    if not spec.signing_keys:
        raise ValueError("IdP metadata needs at least one signing key")
    root = etree.Element(qname(NS.MD, "EntityDescriptor"), nsmap={"md": NS.MD, "ds": NS.DS})
    root.set("entityID", spec.entity_id)
    if spec.valid_until is not None:
        root.set("validUntil", saml_time(spec.valid_until))
    descriptor = etree.SubElement(root, qname(NS.MD, "IDPSSODescriptor"))
    descriptor.set(
        "WantAuthnRequestsSigned", "true" if spec.want_authn_requests_signed else "false"
    )
    descriptor.set("protocolSupportEnumeration", NS.SAMLP)
    for key in spec.signing_keys:
        key_descriptor = etree.SubElement(descriptor, qname(NS.MD, "KeyDescriptor"), use="signing")
        key_info = etree.SubElement(key_descriptor, qname(NS.DS, "KeyInfo"))
        x509_data = etree.SubElement(key_info, qname(NS.DS, "X509Data"))
        etree.SubElement(x509_data, qname(NS.DS, "X509Certificate")).text = key.cert_base64
    _add_service(descriptor, "SingleLogoutService", spec.endpoints.slo_url)
    for name_id_format in spec.name_id_formats:
        etree.SubElement(descriptor, qname(NS.MD, "NameIDFormat")).text = name_id_format
    _add_service(descriptor, "SingleSignOnService", spec.endpoints.sso_url)
    return root


def _add_service(descriptor: etree._Element, service: str, location: str) -> None:
    for binding in (Binding.HTTP_REDIRECT, Binding.HTTP_POST):
        etree.SubElement(descriptor, qname(NS.MD, service), Binding=binding, Location=location)


def metadata_bytes(spec: MetadataSpec) -> bytes:
    """Return the metadata as pretty-printed UTF-8 XML (no BOM, as IAM requires)."""
    return etree.tostring(
        build_metadata(spec), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


def signing_certificates(metadata: etree._Element) -> tuple[str, ...]:
    """Return the base64 certificates of the signing KeyDescriptors in IdP metadata."""
    found: list[str] = []
    for key_descriptor in metadata.iterfind(
        f".//{qname(NS.MD, 'IDPSSODescriptor')}/{qname(NS.MD, 'KeyDescriptor')}"
    ):
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for cert in key_descriptor.iterfind(f".//{qname(NS.DS, 'X509Certificate')}"):
            found.append("".join((cert.text or "").split()))
    return tuple(found)


def entity_id(metadata: etree._Element) -> str | None:
    """Return the entityID of an EntityDescriptor."""
    return metadata.get("entityID")
