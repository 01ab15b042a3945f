"""The checks AWS STS makes on ``AssumeRoleWithSAML``, one named rule each, in running order.

Each rule is a small check with a stable id that raises the error AWS raises; :data:`RULES` lists
them in order and :class:`~sp_fixtures.aws.sts.StrictSts` runs them. Where AWS's behaviour is not
documented (marked "unverified" in a rule's doc), the rule fails closed: it refuses, with the most
plausible AWS error code.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import botocore.loaders

from idp.saml.constants import AWS_AUDIENCE_URN, AWS_SIGNIN_URL, BEARER, PRINCIPAL_TAG_PREFIX
from idp.saml.constants import AwsAttribute as Attr
from sp_fixtures.aws import errors as e
from sp_fixtures.aws.account import RoleRecord, SamlProviderRecord
from sp_fixtures.aws.context import saml_context
from sp_fixtures.aws.policy import (
    Decision,
    Policy,
    PolicyError,
    Principal,
    Request,
    evaluate,
    parse_policy,
)
from sp_fixtures.verify import (
    MetadataError,
    TrustedIdp,
    VerificationError,
    VerifiedResponse,
    verify_response,
)

if TYPE_CHECKING:
    from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts

MAX_ASSERTION_CHARS = 100_000
MIN_ASSERTION_CHARS = 4
DEFAULT_DURATION = 3600
MIN_DURATION, MAX_DURATION = 900, 43_200
MAX_SESSION_POLICY_CHARS = 2048
MAX_POLICY_ARNS = 10
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256
#: Budget used to estimate PackedPolicySize (AWS does not publish its packing; unverified).
PACKED_BUDGET = 2048

# Patterns are applied with fullmatch: "$" would also match before a final newline.
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})")
PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):saml-provider/([\w.+=,@-]{1,128})")
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\x21-\x7e]+")
SESSION_NAME = re.compile(r"[a-zA-Z_0-9+=,.@-]{2,64}", re.ASCII)
POLICY_CHARS = re.compile(r"[\u0009\u000a\u000d\u0020-\u00ff]+")
INTEGER = re.compile(r"[0-9]+")
#: AWS sign-in endpoints: global, regional, and the ``/acs/<provider id>`` form for encryption.
SIGNIN_URL = re.compile(
    r"https://(?:(?P<region>[a-z0-9-]+)\.)?signin\.aws\.amazon\.com/saml"
    r"(?:/acs/(?P<acs>[A-Za-z0-9-]+))?"
)
#: Characters a session tag key may hold besides letters, separators and numbers (API pattern
#: ``[\p{L}\p{Z}\p{N}_.:/=+\-@]+``).
TAG_KEY_PUNCTUATION = frozenset("_.:/=+-@")
#: Prefix of the roles IAM Identity Center manages; AssumeRoleWithSAML does not work on them.
IDENTITY_CENTER_ROLE_PREFIX = "AWSReservedSSO_"


@functools.cache
def signin_regions() -> frozenset[str]:
    """Return the region codes of the ``aws`` partition, whose sign-in is signin.aws.amazon.com.

    Taken from botocore's endpoint data (the list the SDKs ship with); other partitions sign in
    on other domains (amazonaws-us-gov.com, amazonaws.cn).
    """
    endpoints = botocore.loaders.Loader().load_data("endpoints")
    (aws,) = (p for p in endpoints["partitions"] if p["partition"] == "aws")
    return frozenset(aws["regions"])


def valid_tag_key(key: str) -> bool:
    """Return whether ``key`` is 1–128 letters, separators, numbers or ``_.:/=+-@``."""
    return 1 <= len(key) <= MAX_TAG_KEY and all(
        unicodedata.category(ch)[0] in "LZN" or ch in TAG_KEY_PUNCTUATION for ch in key
    )


@dataclass
class Exchange:
    """What the rules learn about one request as they run, in order."""

    request: AssumeRoleWithSamlRequest
    now: dt.datetime
    provider: SamlProviderRecord | None = None
    provider_name: str = ""
    provider_account: str = ""
    document: bytes = b""
    verified: VerifiedResponse | None = None
    role: RoleRecord | None = None
    session_name: str = ""
    duration: int = DEFAULT_DURATION
    principal_tags: dict[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    packed_policy_size: int | None = None
    trust_decisions: list[Decision] = field(default_factory=list)

    @property
    def response(self) -> VerifiedResponse:
        """Return the verified response (only after the signature rule has passed)."""
        assert self.verified is not None  # noqa: S101 - rule order guarantees it
        return self.verified

    @property
    def recipient(self) -> str:
        """Return the Recipient of the single bearer SubjectConfirmation."""
        return self.response.subject_confirmations[0].recipient or ""


@dataclass(frozen=True)
class Rule:
    """One check AWS makes."""

    id: str
    summary: str
    check: Callable[[StrictSts, Exchange], None]


def _validation(field_name: str, value: str, constraint: str) -> e.ValidationError:
    return e.ValidationError(
        f"1 validation error detected: Value '{value}' at '{field_name}' "
        f"failed to satisfy constraint: {constraint}"
    )


def _arn_length(field_name: str, value: str) -> None:
    if len(value) < 20:
        raise _validation(field_name, value, "Member must have length greater than or equal to 20")
    if len(value) > 2048:
        raise _validation(field_name, value, "Member must have length less than or equal to 2048")


@functools.lru_cache(maxsize=64)
def trusted_idp(metadata: str, private_keys: tuple[bytes, ...]) -> TrustedIdp:
    """Return the TrustedIdp of a provider's metadata and keys, parsed once per document.

    TrustedIdp is frozen, so one parse serves every exchange; a new document (or key) is a new
    cache entry, and a document that fails to parse is not cached (it raises every time).
    """
    return TrustedIdp.from_metadata(metadata, decryption_keys=private_keys)


@functools.lru_cache(maxsize=256)
def parsed_policy(document: str) -> Policy:
    """Return a role's trust policy parsed once per document text (Policy is frozen)."""
    return parse_policy(document)


# --- request rules --------------------------------------------------------------------------


def check_assertion_length(sts: StrictSts, ex: Exchange) -> None:
    """SAMLAssertion is 4–100,000 characters (the API model's SAMLAssertionType)."""
    size = len(ex.request.SAMLAssertion)
    if size < MIN_ASSERTION_CHARS:
        raise _validation(
            "SAMLAssertion", "***", "Member must have length greater than or equal to 4"
        )
    if size > MAX_ASSERTION_CHARS:
        raise _validation(
            "SAMLAssertion", "***", "Member must have length less than or equal to 100000"
        )


def check_role_arn(sts: StrictSts, ex: Exchange) -> None:
    """RoleArn is 20–2048 characters and a role ARN ("Request ARN is invalid" otherwise)."""
    _arn_length("roleArn", ex.request.RoleArn)
    if not ROLE_ARN.fullmatch(ex.request.RoleArn):
        raise e.ValidationError("Request ARN is invalid")


def check_principal_arn(sts: StrictSts, ex: Exchange) -> None:
    """PrincipalArn is 20–2048 characters and a SAML provider ARN."""
    _arn_length("principalArn", ex.request.PrincipalArn)
    match = PROVIDER_ARN.fullmatch(ex.request.PrincipalArn)
    if not match:
        raise e.ValidationError("Principal ARN is invalid")
    ex.provider_account, ex.provider_name = match.group(1), match.group(2)


def check_duration_range(sts: StrictSts, ex: Exchange) -> None:
    """DurationSeconds, when given, is 900–43200."""
    duration = ex.request.DurationSeconds
    if duration is None:
        return
    if duration < MIN_DURATION:
        raise _validation(
            "durationSeconds", str(duration), "Member must have value greater than or equal to 900"
        )
    if duration > MAX_DURATION:
        raise _validation(
            "durationSeconds", str(duration), "Member must have value less than or equal to 43200"
        )
    ex.duration = duration


def check_session_policy(sts: StrictSts, ex: Exchange) -> None:
    """Policy is 1–2048 allowed characters and a valid policy; at most 10 PolicyArns, each in
    the role's account or AWS-managed (the error for another account is unverified)."""
    policy = ex.request.Policy
    if policy is not None:
        if not policy:
            raise _validation("policy", "***", "Member must have length greater than or equal to 1")
        if len(policy) > MAX_SESSION_POLICY_CHARS:
            raise _validation("policy", "***", "Member must have length less than or equal to 2048")
        if not POLICY_CHARS.fullmatch(policy):
            raise _validation(
                "policy",
                "***",
                "Member must satisfy regular expression pattern: "
                "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            )
        try:
            parse_policy(policy)
        except PolicyError as exc:
            raise e.MalformedPolicyDocument(f"Policy document is malformed: {exc}") from None
    if len(ex.request.PolicyArns) > MAX_POLICY_ARNS:
        raise _validation("policyArns", "***", "Member must have length less than or equal to 10")
    role = ROLE_ARN.fullmatch(ex.request.RoleArn)
    role_account = role.group(1) if role else None
    for arn in ex.request.PolicyArns:
        policy_arn = POLICY_ARN.fullmatch(arn)
        if not policy_arn:
            raise e.ValidationError(f"Invalid ARN {arn!r} in PolicyArns")
        if policy_arn.group(1) not in ("aws", role_account):
            raise e.ValidationError(
                f"Policy {arn!r} in PolicyArns is not in the role's account {role_account}"
            )


# --- provider and response rules ------------------------------------------------------------


def check_provider_exists(sts: StrictSts, ex: Exchange) -> None:
    """PrincipalArn names an existing IAM SAML provider (error code unverified; text from UG)."""
    ex.provider = sts.iam.saml_provider(ex.request.PrincipalArn)
    if ex.provider is None:
        raise e.InvalidIdentityToken(e.PROVIDER_MISSING)


def check_decodes(sts: StrictSts, ex: Exchange) -> None:
    """SAMLAssertion is base64 (whitespace allowed, as AWS's console posts it)."""
    compact = "".join(ex.request.SAMLAssertion.split())
    try:
        ex.document = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise e.InvalidIdentityToken("Invalid base64 SAMLResponse") from None


def check_signature(sts: StrictSts, ex: Exchange) -> None:
    """The response parses safely and is signed by a key in the provider's metadata."""
    assert ex.provider is not None  # noqa: S101
    try:
        trusted = trusted_idp(ex.provider.metadata, tuple(ex.provider.private_keys))
    except MetadataError as exc:
        raise e.InvalidIdentityToken(f"Unable to parse provider metadata: {exc}") from None
    try:
        ex.verified = verify_response(ex.document, trusted, allow_sha1=sts.allow_sha1)
    except VerificationError as exc:
        if exc.code == "status_not_success":
            # A Response whose StatusCode is not Success is the IdP saying authentication
            # failed: the meaning AWS's API model gives IDPRejectedClaim (code inferred).
            raise e.IDPRejectedClaim(e.IDP_REJECTED_CLAIM, detail=exc.message) from None
        if exc.code == "issuer_mismatch":  # the verifier checks it once the signature holds
            raise e.InvalidIdentityToken(
                e.ISSUER_NOT_PRESENT, rule="saml.issuer", detail=exc.message
            ) from None
        raise e.InvalidIdentityToken(
            _verification_message(exc), detail=f"{exc.code}: {exc.message}"
        ) from None


def _verification_message(exc: VerificationError) -> str:
    if exc.code in {
        "signature_invalid",
        "signature_missing",
        "reference_mismatch",
        "multiple_references",
        "signature_malformed",
        "algorithm_not_allowed",
        "key_info_not_allowed",
    }:
        return e.SIGNATURE_INVALID
    return f"Invalid SAML response: {exc.message}"


def check_issuer(sts: StrictSts, ex: Exchange) -> None:
    """Issuer equals the entityID of the provider's metadata."""
    assert ex.provider is not None  # noqa: S101
    entity_id = trusted_idp(ex.provider.metadata, tuple(ex.provider.private_keys)).entity_id
    issuers = {ex.response.issuer, ex.response.response_issuer} - {None}
    if ex.response.issuer != entity_id or issuers != {entity_id}:
        raise e.InvalidIdentityToken(e.ISSUER_NOT_PRESENT)


def check_encryption_mode(sts: StrictSts, ex: Exchange) -> None:
    """With AssertionEncryptionMode=Required a plaintext assertion is refused (text unverified)."""
    assert ex.provider is not None  # noqa: S101
    if ex.provider.encryption_mode == "Required" and not ex.response.encrypted:
        raise e.InvalidIdentityToken(
            "The SAML provider requires encrypted assertions, but the assertion is not encrypted"
        )


def check_subject_confirmation(sts: StrictSts, ex: Exchange) -> None:
    """Exactly one SubjectConfirmation, bearer, with Recipient and NotOnOrAfter."""
    confirmations = ex.response.subject_confirmations
    if len(confirmations) != 1:
        raise e.InvalidIdentityToken(
            f"The SAML assertion must contain exactly one SubjectConfirmation "
            f"(found {len(confirmations)})"
        )
    (confirmation,) = confirmations
    if confirmation.method != BEARER:
        raise e.InvalidIdentityToken("SubjectConfirmation Method must be bearer")
    if not confirmation.recipient or confirmation.not_on_or_after is None:
        raise e.InvalidIdentityToken(
            "SubjectConfirmationData must contain both NotOnOrAfter and Recipient"
        )


def check_recipient(sts: StrictSts, ex: Exchange) -> None:
    """Recipient is an AWS sign-in endpoint (global, or a real region's); with encryption, the
    ``/saml/acs/<id>`` form, whose id must be the provider's SAMLProviderUUID."""
    match = SIGNIN_URL.fullmatch(ex.recipient)
    region = match.group("region") if match else None
    if match is None or (region is not None and region not in signin_regions()):
        raise e.InvalidIdentityToken(f"Recipient {ex.recipient!r} is not an AWS sign-in endpoint")
    assert ex.provider is not None  # noqa: S101
    acs = match.group("acs")
    needs_acs = ex.response.encrypted or ex.provider.encryption_mode == "Required"
    if needs_acs and not acs:
        raise e.InvalidIdentityToken(
            "With encrypted assertions the Recipient must be "
            "https://<region>.signin.aws.amazon.com/saml/acs/<IdP-ID>"
        )
    if acs and acs != ex.provider.uuid:
        raise e.InvalidIdentityToken(
            f"Recipient {ex.recipient!r} names another SAML provider than "
            f"{ex.request.PrincipalArn} (its SAMLProviderUUID is {ex.provider.uuid})"
        )


def check_audience(sts: StrictSts, ex: Exchange) -> None:
    """Every AudienceRestriction names AWS (``https://signin.aws.amazon.com/saml`` or the URN).

    Each restriction must be met (SAML core §2.5.1.4): a second one naming only another SP
    means the assertion is not for AWS, even if the first names it. Those two values are the
    only ones AWS documents as its audience; a regional sign-in URL is refused (unverified).
    """
    conditions = ex.response.conditions
    audiences = conditions.audiences if conditions else ()
    restrictions = conditions.audience_restrictions if conditions else ()
    if not restrictions or not all(
        any(a in (AWS_SIGNIN_URL, AWS_AUDIENCE_URN) for a in group) for group in restrictions
    ):
        raise e.InvalidIdentityToken(
            f"The SAML assertion's Audience {list(audiences)} does not include "
            f"{AWS_SIGNIN_URL} or {AWS_AUDIENCE_URN}"
        )


def check_not_before(sts: StrictSts, ex: Exchange) -> None:
    """NotBefore is not in the future beyond the allowed clock skew (error code unverified)."""
    starts = [
        t
        for t in (
            ex.response.conditions.not_before if ex.response.conditions else None,
            ex.response.subject_confirmations[0].not_before,
        )
        if t is not None
    ]
    if any(start > ex.now + sts.skew for start in starts):
        raise e.InvalidIdentityToken("The SAML assertion is not yet valid (NotBefore)")
    if ex.response.issue_instant > ex.now + sts.skew:
        raise e.InvalidIdentityToken("The SAML assertion was issued in the future (IssueInstant)")


def check_not_on_or_after(sts: StrictSts, ex: Exchange) -> None:
    """Neither SubjectConfirmationData nor Conditions NotOnOrAfter has passed."""
    ends = [
        t
        for t in (
            ex.response.subject_confirmations[0].not_on_or_after,
            ex.response.conditions.not_on_or_after if ex.response.conditions else None,
        )
        if t is not None
    ]
    if any(ex.now >= end + sts.skew for end in ends):
        raise e.ExpiredToken(e.RESPONSE_EXPIRED)


def check_issue_instant_age(sts: StrictSts, ex: Exchange) -> None:
    """The assertion is redeemed within 5 minutes of IssueInstant (observed; unverified)."""
    if ex.now - ex.response.issue_instant > sts.max_age:
        raise e.ExpiredToken(e.REDEEM_WITHIN_5_MINUTES)


def check_replay(sts: StrictSts, ex: Exchange) -> None:
    """Optionally refuse an assertion ID seen before (AWS's behaviour is undocumented)."""
    if not sts.refuse_replays:
        return
    key = (ex.request.PrincipalArn, ex.response.assertion_id)
    if key in sts.seen_assertions:
        raise e.InvalidIdentityToken("The SAML assertion has already been used")
    sts.seen_assertions.add(key)


def check_name_id(sts: StrictSts, ex: Exchange) -> None:
    """The Subject has a NameID (AccessDenied otherwise, per the troubleshooting guide)."""
    if not ex.response.name_id:
        raise e.AccessDenied(e.NOT_AUTHORIZED)


def check_role_pair(sts: StrictSts, ex: Exchange) -> None:
    """One Role attribute; every value a role ARN and a provider ARN; (RoleArn, PrincipalArn)
    one of them, in either order.

    A malformed value makes the console answer "invalid SAML response" for the whole response
    (aws-sts-saml.md §1); what the API does is unverified, so it refuses too. Spaces around the
    comma are allowed (they break some clients, not AWS).
    """
    elements = sum(1 for a in ex.response.attributes if a.name == Attr.ROLE)
    if elements > 1:
        # Keycloak's role-list mapper without "Single Role Attribute" sends this layout; how AWS
        # reads it is unverified (idp-mappings.md §8.9), so the response is refused.
        raise e.InvalidIdentityToken(
            f"Invalid SAML response: the Role attribute appears in {elements} Attribute "
            "elements; AWS's layout is one Attribute with one value per role"
        )
    pairs: set[tuple[str, str]] = set()
    for value in ex.response.values(Attr.ROLE):
        parts = [part.strip() for part in value.split(",")]
        roles = [p for p in parts if ROLE_ARN.fullmatch(p)]
        providers = [p for p in parts if PROVIDER_ARN.fullmatch(p)]
        if len(parts) != 2 or len(roles) != 1 or len(providers) != 1:
            raise e.InvalidIdentityToken(
                f"Invalid SAML response: Role value {value!r} is not a role ARN and a SAML "
                "provider ARN separated by a comma"
            )
        pairs.add((roles[0], providers[0]))
    if (ex.request.RoleArn, ex.request.PrincipalArn) not in pairs:
        raise e.AccessDenied(e.NOT_AUTHORIZED)


def check_role_exists(sts: StrictSts, ex: Exchange) -> None:
    """The role exists (a misspelt role gives AccessDenied)."""
    ex.role = sts.iam.role(ex.request.RoleArn)
    if ex.role is None:
        raise e.AccessDenied(e.NOT_AUTHORIZED)


def check_not_identity_center_role(sts: StrictSts, ex: Exchange) -> None:
    """The role is not one IAM Identity Center manages (``AWSReservedSSO_*``; code unverified)."""
    assert ex.role is not None  # noqa: S101
    if ex.role.name.startswith(IDENTITY_CENTER_ROLE_PREFIX):
        raise e.AccessDenied(
            e.NOT_AUTHORIZED,
            detail="AssumeRoleWithSAML does not work on IAM Identity Center managed roles",
        )


def check_role_session_name(sts: StrictSts, ex: Exchange) -> None:
    """RoleSessionName is present, single-valued and matches [a-zA-Z_0-9+=,.@-]{2,64}."""
    values = ex.response.values(Attr.ROLE_SESSION_NAME)
    if not values:
        raise e.InvalidIdentityToken(e.SESSION_NAME_REQUIRED)
    if len(values) != 1 or not SESSION_NAME.fullmatch(values[0]):
        raise e.InvalidIdentityToken(e.SESSION_NAME_PATTERN)
    ex.session_name = values[0]


def check_session_duration(sts: StrictSts, ex: Exchange) -> None:
    """SessionDuration, when sent, is one integer 900–43200; it and SessionNotOnOrAfter only
    shorten the session."""
    values = ex.response.values(Attr.SESSION_DURATION)
    if values:
        if (
            len(values) != 1
            or not INTEGER.fullmatch(values[0])
            or not (MIN_DURATION <= int(values[0]) <= MAX_DURATION)
        ):
            raise e.InvalidIdentityToken(
                "SessionDuration in AuthnResponse must be an integer between 900 and 43200"
            )
        ex.duration = min(ex.duration, int(values[0]))
    authn = ex.response.authn
    if authn is not None and authn.session_not_on_or_after is not None:
        remaining = int((authn.session_not_on_or_after - ex.now).total_seconds())
        if remaining <= 0:
            raise e.ExpiredToken(e.RESPONSE_EXPIRED)
        ex.duration = min(ex.duration, remaining)


def check_duration_max(sts: StrictSts, ex: Exchange) -> None:
    """DurationSeconds is at most the role's MaxSessionDuration."""
    assert ex.role is not None  # noqa: S101
    requested = ex.request.DurationSeconds
    if requested is not None and requested > ex.role.max_session_duration:
        raise e.ValidationError(e.DURATION_EXCEEDS_MAX)


def check_session_tags(sts: StrictSts, ex: Exchange) -> None:
    """PrincipalTag attributes: ≤50, single-valued, key/value sizes, no ``aws:`` prefix; and
    TransitiveTagKeys among them (error texts unverified)."""
    tags: dict[str, str] = {}
    for attribute in ex.response.attributes:
        if not attribute.name.startswith(PRINCIPAL_TAG_PREFIX):
            continue
        key = attribute.name[len(PRINCIPAL_TAG_PREFIX) :]
        if len(attribute.values) != 1:
            raise e.InvalidIdentityToken(f"Session tag {key!r} must have exactly one value")
        if not valid_tag_key(key) or key.lower().startswith("aws:"):
            raise e.InvalidIdentityToken(f"Session tag key {key!r} is invalid")
        if len(attribute.values[0]) > MAX_TAG_VALUE:
            raise e.InvalidIdentityToken(f"Session tag {key!r} value is longer than 256")
        if key.lower() in {k.lower() for k in tags}:
            raise e.InvalidIdentityToken(f"Duplicate session tag key {key!r}")
        tags[key] = attribute.values[0]
    if len(tags) > MAX_TAGS:
        raise e.InvalidIdentityToken(f"Too many session tags: {len(tags)} (at most 50)")
    transitive = ex.response.values(Attr.TRANSITIVE_TAG_KEYS)
    lowered = {k.lower() for k in tags}
    for key in transitive:
        if key.lower() not in lowered:
            raise e.InvalidIdentityToken(
                f"Transitive tag key {key!r} is not one of the session tags"
            )
    ex.principal_tags = tags
    ex.transitive_tag_keys = transitive


def check_source_identity(sts: StrictSts, ex: Exchange) -> None:
    """SourceIdentity, when sent, is one value matching [a-zA-Z_0-9+=,.@-]{2,64}, not ``aws:``."""
    values = ex.response.values(Attr.SOURCE_IDENTITY)
    if not values:
        return
    if (
        len(values) != 1
        or not SESSION_NAME.fullmatch(values[0])
        or values[0].lower().startswith("aws:")
    ):
        raise e.InvalidIdentityToken(e.SOURCE_IDENTITY_PATTERN)
    ex.source_identity = values[0]


def check_packed_size(sts: StrictSts, ex: Exchange) -> None:
    """Session policies and tags fit once packed (AWS's packing is unpublished: an estimate)."""
    if ex.request.Policy is None and not ex.request.PolicyArns and not ex.principal_tags:
        return
    packed = (
        len(json.dumps(json.loads(ex.request.Policy), separators=(",", ":")))
        if ex.request.Policy
        else 0
    )
    packed += sum(len(arn) for arn in ex.request.PolicyArns)
    packed += sum(len(k) + len(v) for k, v in ex.principal_tags.items())
    percent = -(-100 * packed // PACKED_BUDGET)
    if percent > 100:
        raise e.PackedPolicyTooLarge(
            f"Packed size of session policies and session tags exceeds the limit by "
            f"{percent - 100}%"
        )
    ex.packed_policy_size = percent


def check_trust_policy(sts: StrictSts, ex: Exchange) -> None:
    """The role's trust policy allows the provider sts:AssumeRoleWithSAML, plus sts:TagSession
    when tags are sent and sts:SetSourceIdentity when SourceIdentity is sent."""
    assert ex.role is not None and ex.provider is not None  # noqa: S101
    try:
        trust_policy = parsed_policy(ex.role.trust_policy)
    except PolicyError:
        raise e.AccessDenied(e.NOT_AUTHORIZED) from None
    context = saml_context(
        recipient=ex.recipient,
        issuer=ex.response.issuer or "",
        name_id=ex.response.name_id or "",
        name_id_format=ex.response.name_id_format,
        account_id=ex.provider_account,
        provider_name=ex.provider_name,
        provider_arn=ex.request.PrincipalArn,
        attributes=[(a.name, a.values) for a in ex.response.attributes],
        principal_tags=ex.principal_tags,
        transitive_tag_keys=ex.transitive_tag_keys,
        source_identity=ex.source_identity,
    )
    actions = ["sts:AssumeRoleWithSAML"]
    if ex.principal_tags:
        actions.append("sts:TagSession")
    if ex.source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    principal = Principal("Federated", ex.request.PrincipalArn)
    for action in actions:
        decision = evaluate(
            [trust_policy],
            Request(action=action, resource=ex.role.arn, principal=principal, context=context),
        )
        ex.trust_decisions.append(decision)
        if not decision.allowed:
            raise e.AccessDenied(e.NOT_AUTHORIZED)


#: Every check, in the order they run. Ids are stable: reports and tests refer to them.
RULES: tuple[Rule, ...] = tuple(
    Rule(rule_id, (check.__doc__ or "").split("\n")[0], check)
    for rule_id, check in (
        ("request.assertion_length", check_assertion_length),
        ("request.role_arn", check_role_arn),
        ("request.principal_arn", check_principal_arn),
        ("request.duration_seconds", check_duration_range),
        ("request.session_policy", check_session_policy),
        ("provider.exists", check_provider_exists),
        ("saml.base64", check_decodes),
        ("saml.signature", check_signature),
        ("saml.issuer", check_issuer),
        ("saml.encryption", check_encryption_mode),
        ("saml.subject_confirmation", check_subject_confirmation),
        ("saml.recipient", check_recipient),
        ("saml.audience", check_audience),
        ("saml.not_before", check_not_before),
        ("saml.not_on_or_after", check_not_on_or_after),
        ("saml.issue_instant_age", check_issue_instant_age),
        ("saml.replay", check_replay),
        ("saml.name_id", check_name_id),
        ("saml.role_pair", check_role_pair),
        ("role.exists", check_role_exists),
        ("role.not_identity_center", check_not_identity_center_role),
        ("saml.role_session_name", check_role_session_name),
        ("saml.session_duration", check_session_duration),
        # SourceIdentity, then tags, then DurationSeconds: the order aws-sts-saml.md §7 gives.
        ("saml.source_identity", check_source_identity),
        ("saml.session_tags", check_session_tags),
        ("request.duration_max", check_duration_max),
        ("session.packed_size", check_packed_size),
        ("role.trust_policy", check_trust_policy),
    )
)
