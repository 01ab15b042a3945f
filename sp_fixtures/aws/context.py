"""Trust-policy condition keys that STS derives from a SAML assertion (aws-sts-saml.md §2.2)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence

from idp.saml.constants import NameIDFormat

#: SAML attribute names (eduPerson/eduOrg OIDs, AD claims, X.500) → context key, and whether the
#: key is multivalued (used with ForAnyValue:/ForAllValues:). From the IAM User Guide's tables.
ATTRIBUTE_KEYS: Mapping[str, tuple[str, bool]] = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ("saml:edupersonaffiliation", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": ("saml:edupersonnickname", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": ("saml:edupersonorgdn", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": ("saml:edupersonorgunitdn", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": ("saml:edupersonprimaryaffiliation", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": ("saml:edupersonprincipalname", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ("saml:edupersonentitlement", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": ("saml:edupersonprimaryorgunitdn", False),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": ("saml:edupersonscopedaffiliation", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": ("saml:edupersontargetedid", True),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": ("saml:edupersonassurance", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.2": ("saml:eduorghomepageuri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.3": ("saml:eduorgidentityauthnpolicyuri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.4": ("saml:eduorglegalname", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.5": ("saml:eduorgsuperioruri", True),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.6": ("saml:eduorgwhitepagesuri", True),
    "urn:oid:2.5.4.3": ("saml:cn", True),
    "http://schemas.xmlsoap.org/claims/CommonName": ("saml:commonName", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ("saml:givenName", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": ("saml:surname", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": ("saml:mail", False),
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": ("saml:name", False),
    "urn:oid:0.9.2342.19200300.100.1.1": ("saml:uid", False),
    "urn:oid:2.5.4.45": ("saml:x500UniqueIdentifier", False),
}

_SAML2_FORMAT_PREFIX = "urn:oasis:names:tc:SAML:2.0:nameid-format:"


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """Return ``saml:namequalifier``: Base64(SHA1(issuer + account id + "/" + provider name))."""
    digest = hashlib.sha1(  # noqa: S324 - AWS's documented formula, not a security use
        f"{issuer}{account_id}/{provider_name}".encode()
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def subject_type(name_id_format: str | None) -> str:
    """Return ``saml:sub_type`` / SubjectType: the SAML 2.0 format prefix removed
    (``persistent``, ``transient``), any other format URI unchanged."""
    if name_id_format is None:
        return NameIDFormat.UNSPECIFIED.value
    return name_id_format.removeprefix(_SAML2_FORMAT_PREFIX)


def saml_context(
    *,
    recipient: str,
    issuer: str,
    name_id: str,
    name_id_format: str | None,
    account_id: str,
    provider_name: str,
    provider_arn: str,
    attributes: Sequence[tuple[str, tuple[str, ...]]],
    principal_tags: Mapping[str, str],
    transitive_tag_keys: Sequence[str],
    source_identity: str | None,
) -> dict[str, str | list[str]]:
    """Return the request context for evaluating a role's trust policy."""
    context: dict[str, str | list[str]] = {
        "saml:aud": recipient,
        "saml:iss": issuer,
        "saml:sub": name_id,
        "saml:sub_type": subject_type(name_id_format),
        "saml:doc": f"{account_id}/{provider_name}",
        "saml:namequalifier": name_qualifier(issuer, account_id, provider_name),
        "aws:FederatedProvider": provider_arn,
    }
    for name, values in attributes:
        mapped = ATTRIBUTE_KEYS.get(name)
        if mapped is None or mapped[0] in context or not values:
            continue  # "If you include more than one [claim per key], only one will be mapped."
        key, multivalued = mapped
        context[key] = list(values) if multivalued else values[0]
    for tag_key, tag_value in principal_tags.items():
        context[f"aws:RequestTag/{tag_key}"] = tag_value
    if principal_tags:
        context["aws:TagKeys"] = list(principal_tags)
    if transitive_tag_keys:
        context["sts:TransitiveTagKeys"] = list(transitive_tag_keys)
    if source_identity is not None:
        context["sts:SourceIdentity"] = source_identity
    return context
