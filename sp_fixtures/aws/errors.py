"""AWS STS errors with the codes, HTTP statuses and (where known) messages AWS uses.

The codes are those of the STS service model (aws-sts-saml.md §3), so that botocore turns them
into the same modelled exceptions real AWS raises (``InvalidIdentityTokenException``, …).
"""

from __future__ import annotations


class StsError(Exception):
    """Root of the strict STS errors; ``code`` and ``message`` are what AWS sends."""

    code = "InternalFailure"
    status = 500
    sender_fault = False

    def __init__(self, message: str, *, rule: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        """The id of the strict-STS rule that refused the request (ours, not AWS's)."""
        self.detail = detail
        """A finer reason, e.g. the verifier's error code (ours, not AWS's)."""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_boto3_error(self) -> dict[str, str]:
        """Return the ``Error`` member of a botocore ClientError response."""
        return {
            "Code": self.code,
            "Message": self.message,
            "Type": "Sender" if self.sender_fault else "Receiver",
        }


class InvalidIdentityToken(StsError):
    """The SAML response could not be validated."""

    code = "InvalidIdentityToken"
    status = 400
    sender_fault = True


class ExpiredToken(StsError):
    """The SAML response has expired or is too old."""

    code = "ExpiredTokenException"
    status = 400
    sender_fault = True


class AccessDenied(StsError):
    """The trust policy (or the assertion) does not let this caller take the role."""

    code = "AccessDenied"
    status = 403
    sender_fault = True


class ValidationError(StsError):
    """A request parameter breaks its constraints."""

    code = "ValidationError"
    status = 400
    sender_fault = True


class MalformedPolicyDocument(StsError):
    """The session policy is not a valid policy document."""

    code = "MalformedPolicyDocument"
    status = 400
    sender_fault = True


class PackedPolicyTooLarge(StsError):
    """Session policies and tags are too large once packed."""

    code = "PackedPolicyTooLarge"
    status = 400
    sender_fault = True


class IDPRejectedClaim(StsError):
    """The IdP reported that authentication failed."""

    code = "IDPRejectedClaim"
    status = 403
    sender_fault = True


# --- errors of the query protocol itself (sts serve) -------------------------------------


class InternalFailure(StsError):
    """An unexpected failure in the strict layer (never a traceback to the client)."""

    code = "InternalFailure"
    status = 500


class RequestTooLarge(StsError):
    """The request body is larger than any valid STS call."""

    code = "ValidationError"
    status = 400
    sender_fault = True


class InvalidQueryParameter(StsError):
    """The query parameters are malformed: bad percent-encoding, not UTF-8, a duplicate, …"""

    code = "InvalidQueryParameter"
    status = 400
    sender_fault = True


class MissingAction(StsError):
    """The request names no Action parameter."""

    code = "MissingAction"
    status = 400
    sender_fault = True


class InvalidAction(StsError):
    """The Action parameter names no STS operation (action names are case-sensitive)."""

    code = "InvalidAction"
    status = 400
    sender_fault = True


class IncompleteSignature(StsError):
    """The Authorization header has no credential scope at all."""

    code = "IncompleteSignature"
    status = 400
    sender_fault = True


NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithSAML"
SIGNATURE_INVALID = "Response signature invalid"
ISSUER_NOT_PRESENT = (
    "Issuer not present in specified provider (Service: AWSOpenIdDiscoveryService; "
    "Status Code: 400; Error Code: AuthSamlInvalidSamlResponseException)"
)
RESPONSE_EXPIRED = "Response has expired"
REDEEM_WITHIN_5_MINUTES = "Token must be redeemed within 5 minutes of issuance"
SESSION_NAME_REQUIRED = "RoleSessionName is required in AuthnResponse"
SESSION_NAME_PATTERN = "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
SOURCE_IDENTITY_PATTERN = (
    'Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with "aws:"'
)
DURATION_EXCEEDS_MAX = (
    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
)
PROVIDER_MISSING = "Specified provider doesn't exist."
IDP_REJECTED_CLAIM = (
    "The identity provider (IdP) reported that authentication failed. "
    "This might be because the claim is invalid."
)
