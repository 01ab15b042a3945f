"""Trust-policy condition keys that STS derives from a SAML assertion (aws-sts-saml.md §2.2)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence

from idp.saml.constants import NameIDFormat

# Where the table below comes from (IAM User Guide, read in the archived copy
# awsdocs/iam-user-guide at commit 651083f, 2023-05-11):
#
# * Which attribute maps to which key: "Configure SAML assertions for the authentication
#   response", section "Mapping SAML attributes to AWS trust policy context keys"
#   (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html#saml-attribute-mapping):
#   three tables, eduPerson/eduOrg, Active Directory, X.500.
# * Whether a key is multivalued: "Available keys for SAML-based AWS STS federation"
#   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-saml),
#   where "Items marked with [] can have a value that is a list". That page marks every AD and
#   X.500 key, and saml:cn, with []; aws-sts-saml.md §2.2 marks none of them, and the mapping
#   page's tables type the AD/X.500 ones "String". We follow the condition-keys page: a second
#   AttributeValue is kept, not dropped, so e.g. a Deny on one organizationStatus value fires
#   whatever order the IdP sends the values in. (Without ForAnyValue:/ForAllValues:, the policy
#   evaluator matches a multivalued key if any value matches; multivalued keys cannot be
#   ${policy variables}.)

_EDU = "urn:oid:1.3.6.1.4.1.5923"
_XMLSOAP = "http://schemas.xmlsoap.org"
_MS = "http://schemas.microsoft.com"

#: eduPerson and eduOrg attributes (the `Name` as the UG's table gives it, urn:oid: included).
EDU_KEYS: Mapping[str, tuple[str, bool]] = {
    f"{_EDU}.1.1.1.1": ("saml:edupersonaffiliation", True),
    f"{_EDU}.1.1.1.2": ("saml:edupersonnickname", True),
    f"{_EDU}.1.1.1.3": ("saml:edupersonorgdn", False),
    f"{_EDU}.1.1.1.4": ("saml:edupersonorgunitdn", True),
    f"{_EDU}.1.1.1.5": ("saml:edupersonprimaryaffiliation", False),
    f"{_EDU}.1.1.1.6": ("saml:edupersonprincipalname", False),
    f"{_EDU}.1.1.1.7": ("saml:edupersonentitlement", True),
    f"{_EDU}.1.1.1.8": ("saml:edupersonprimaryorgunitdn", False),
    f"{_EDU}.1.1.1.9": ("saml:edupersonscopedaffiliation", True),
    f"{_EDU}.1.1.1.10": ("saml:edupersontargetedid", True),
    f"{_EDU}.1.1.1.11": ("saml:edupersonassurance", True),
    f"{_EDU}.1.2.1.2": ("saml:eduorghomepageuri", True),
    f"{_EDU}.1.2.1.3": ("saml:eduorgidentityauthnpolicyuri", True),
    f"{_EDU}.1.2.1.4": ("saml:eduorglegalname", True),
    f"{_EDU}.1.2.1.5": ("saml:eduorgsuperioruri", True),
    f"{_EDU}.1.2.1.6": ("saml:eduorgwhitepagesuri", True),
    # The eduPerson table's last row. aws-sts-saml.md §2.2 lists saml:cn as single-valued; both
    # UG pages make it a list ("List of strings"; "saml:cn[]"), and we follow the UG.
    "urn:oid:2.5.4.3": ("saml:cn", True),
}

#: Active Directory claims. The UG maps primarygroupsid to saml:uid, not to the saml:primaryGroupSID
#: key that the condition-keys page also lists: no UG table maps any attribute to that key, so it
#: is never set.
AD_KEYS: Mapping[str, tuple[str, bool]] = {
    f"{_XMLSOAP}/ws/2005/05/identity/claims/name": ("saml:name", True),
    f"{_XMLSOAP}/claims/CommonName": ("saml:commonName", True),
    f"{_XMLSOAP}/ws/2005/05/identity/claims/givenname": ("saml:givenName", True),
    f"{_XMLSOAP}/ws/2005/05/identity/claims/surname": ("saml:surname", True),
    f"{_XMLSOAP}/ws/2005/05/identity/claims/emailaddress": ("saml:mail", True),
    f"{_MS}/ws/2008/06/identity/claims/primarygroupsid": ("saml:uid", True),
}

#: X.500 attribute types by OID. The UG's table prints two of them wrongly, and they are
#: corrected here: "2.4.5.42" for givenName (2.5.4.42) and "0.9.2342.19200300100.1.1"/".1.3"
#: for uid/mail (0.9.2342.19200300.100.1.1/.1.3, RFC 4519/4524).
_X500_OIDS: Mapping[str, str] = {
    "2.5.4.3": "saml:commonName",
    "2.5.4.4": "saml:surname",
    "2.5.4.42": "saml:givenName",
    "2.5.4.45": "saml:x500UniqueIdentifier",
    "0.9.2342.19200300.100.1.1": "saml:uid",
    "0.9.2342.19200300.100.1.3": "saml:mail",
    "0.9.2342.19200300.100.1.45": "saml:organizationStatus",
}

#: X.500 attributes under both names they can arrive with: ``urn:oid:<oid>``, the `Name` the SAML
#: V2.0 X.500/LDAP attribute profile gives them, and the bare OID exactly as the UG's table prints
#: it. Which of the two AWS matches is undocumented (unverified). The one exception:
#: ``urn:oid:2.5.4.3`` is the eduPerson table's explicit `Name` for saml:cn, so only the bare
#: ``2.5.4.3`` maps to saml:commonName.
X500_KEYS: Mapping[str, tuple[str, bool]] = {
    **{
        f"urn:oid:{oid}": (key, True)
        for oid, key in _X500_OIDS.items()
        if f"urn:oid:{oid}" not in EDU_KEYS
    },
    **{oid: (key, True) for oid, key in _X500_OIDS.items()},
}

#: SAML attribute names (case-sensitive, as AWS compares them) → context key, and whether the key
#: is multivalued (a list, for ForAnyValue:/ForAllValues:). A single-valued key takes the
#: attribute's first AttributeValue.
ATTRIBUTE_KEYS: Mapping[str, tuple[str, bool]] = {**EDU_KEYS, **AD_KEYS, **X500_KEYS}

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
    # "You should include only one claim per AWS context key. If you include more than one, only
    # one claim will be mapped" (UG). Which one is undocumented; here the first attribute in
    # document order that has at least one AttributeValue wins, and later attributes for the same
    # key (another name mapping to it, or the same name repeated) are ignored.
    for name, values in attributes:
        mapped = ATTRIBUTE_KEYS.get(name)
        if mapped is None or mapped[0] in context or not values:
            continue
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
