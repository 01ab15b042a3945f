"""Namespaces, algorithm URIs and AWS attribute names used across the SAML code."""

from __future__ import annotations

from enum import StrEnum


class NS(StrEnum):
    """XML namespaces, with the prefixes they get in documents we write."""

    SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
    SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
    MD = "urn:oasis:names:tc:SAML:2.0:metadata"
    DS = "http://www.w3.org/2000/09/xmldsig#"
    XENC = "http://www.w3.org/2001/04/xmlenc#"
    XENC11 = "http://www.w3.org/2009/xmlenc11#"
    XS = "http://www.w3.org/2001/XMLSchema"
    XSI = "http://www.w3.org/2001/XMLSchema-instance"


NSMAP: dict[str, str] = {
    "samlp": NS.SAMLP,
    "saml": NS.SAML,
    "md": NS.MD,
    "ds": NS.DS,
    "xenc": NS.XENC,
    "xs": NS.XS,
    "xsi": NS.XSI,
}


def qname(ns: NS, local: str) -> str:
    """Return the Clark-notation name ``{ns}local`` that lxml uses."""
    return f"{{{ns}}}{local}"


class NameIDFormat(StrEnum):
    PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

    @classmethod
    def from_short(cls, value: str) -> NameIDFormat:
        """Accept ``persistent``/``transient``/``email``/``unspecified`` or a full URI."""
        short = {
            "persistent": cls.PERSISTENT,
            "transient": cls.TRANSIENT,
            "email": cls.EMAIL,
            "emailaddress": cls.EMAIL,
            "unspecified": cls.UNSPECIFIED,
            "x509subjectname": cls.X509_SUBJECT,
        }
        found = short.get(value.lower())
        return found if found is not None else cls(value)


class SignatureAlgorithm(StrEnum):
    RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"


class DigestAlgorithm(StrEnum):
    SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"


#: The digest that goes with each signature algorithm.
DIGEST_FOR: dict[SignatureAlgorithm, DigestAlgorithm] = {
    SignatureAlgorithm.RSA_SHA1: DigestAlgorithm.SHA1,
    SignatureAlgorithm.RSA_SHA256: DigestAlgorithm.SHA256,
    SignatureAlgorithm.RSA_SHA512: DigestAlgorithm.SHA512,
}


class Transform(StrEnum):
    ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
    C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    C14N11 = "http://www.w3.org/2006/12/xml-c14n11"


class DataEncryption(StrEnum):
    AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
    AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
    AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
    AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"


class KeyTransport(StrEnum):
    RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    RSA_OAEP = "http://www.w3.org/2009/xmlenc11#rsa-oaep"


class Binding(StrEnum):
    HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


class StatusCode(StrEnum):
    SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
    REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
    RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
    AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"


BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AUTHN_CONTEXT_PASSWORD_PROTECTED = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: E501,S105
)
ATTRNAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
ATTRNAME_FORMAT_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"


class AwsAttribute(StrEnum):
    """SAML attribute names AWS reads; case-sensitive (aws-sts-saml.md §1)."""

    ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
    ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
    TRANSITIVE_TAG_KEYS = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys"
    SOURCE_IDENTITY = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"


PRINCIPAL_TAG_PREFIX = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"

AWS_SIGNIN_URL = "https://signin.aws.amazon.com/saml"
AWS_AUDIENCE_URN = "urn:amazon:webservices"
