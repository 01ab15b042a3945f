"""Requests that each break exactly one strict-STS rule, and positive controls.

Every case builds its request from a fresh response signed by the mock IdP of
``tests/data/sts/world.yaml``; only the one thing the case is about is wrong.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.provider import IdentityProvider
from idp.saml.builder import SamlAttribute
from idp.saml.constants import PRINCIPAL_TAG_PREFIX, AwsAttribute

WORLD = Path(__file__).resolve().parents[2] / "data" / "sts" / "world.yaml"
A1 = "arn:aws:iam::111111111111"
ADMIN = f"{A1}:role/Admin"
CORP = f"{A1}:saml-provider/CorpIdP"
SECURE = f"{A1}:saml-provider/Secure"
REGIONAL = "https://eu-west-1.signin.aws.amazon.com/saml"
SSO_ROLE = f"{A1}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
ACS = "https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSP4SHN3UIS2D558H46"

Attributes = tuple[SamlAttribute, ...]


def drop(name: str) -> Callable[[Attributes], Attributes]:
    return lambda attrs: tuple(a for a in attrs if a.name != name)


def put(name: str, *values: str) -> Callable[[Attributes], Attributes]:
    return lambda attrs: (*(a for a in attrs if a.name != name), SamlAttribute(name, values))


def tags(**pairs: str) -> Callable[[Attributes], Attributes]:
    return lambda attrs: (
        *attrs,
        *(SamlAttribute(PRINCIPAL_TAG_PREFIX + k, (v,)) for k, v in pairs.items()),
    )


def chain(*edits: Callable[[Attributes], Attributes]) -> Callable[[Attributes], Attributes]:
    def apply(attrs: Attributes) -> Attributes:
        for edit in edits:
            attrs = edit(attrs)
        return attrs

    return apply


class Forge:
    """Makes signed responses and request parameters for the cases."""

    def __init__(
        self, provider: IdentityProvider, now: dt.datetime, stranger_key: tuple[Path, Path]
    ) -> None:
        self.provider = provider
        self.now = now
        self.stranger_key = stranger_key
        """A key pair that no SAML provider's metadata lists."""

    def variant(self, **signing: Any) -> IdentityProvider:
        """Return the same IdP with other signing settings."""
        settings = self.provider.settings.model_copy(
            update={"signing": self.provider.settings.signing.model_copy(update=signing)}
        )
        return IdentityProvider(settings, self.provider.directory, base_dir=self.provider.base_dir)

    def issue(
        self,
        user: str = "alice",
        role: str = ADMIN,
        *,
        sp: str = "aws",
        provider: IdentityProvider | None = None,
        attributes: Callable[[Attributes], Attributes] | None = None,
        edit: Callable[[bytes], bytes] | None = None,
        at: dt.timedelta | None = None,
        acs: str | None = None,
        response: dict[str, Any] | None = None,
        **assertion: Any,
    ) -> str:
        """Return a base64 SAMLResponse for ``user`` offering only ``role``'s pair."""
        idp = provider or self.provider
        mapped = idp.map_user(user).attributes
        kept = tuple(
            dataclasses.replace(a, values=tuple(v for v in a.values if role in v.split(",")))
            if a.name == AwsAttribute.ROLE
            else a
            for a in mapped
        )
        if attributes is not None:
            kept = attributes(kept)
        issued = idp.issue(
            user,
            sp=sp,
            now=self.now + (at or dt.timedelta()),
            recipient=acs,
            assertion_overrides={"attributes": kept, **assertion},
            response_overrides=response,
        )
        xml = edit(issued.xml) if edit else issued.xml
        return base64.b64encode(xml).decode("ascii")

    def request(
        self,
        assertion: str | None = None,
        *,
        role: str = ADMIN,
        principal: str = CORP,
        **extra: Any,
    ) -> dict[str, Any]:
        """Return AssumeRoleWithSAML parameters."""
        return {
            "RoleArn": role,
            "PrincipalArn": principal,
            "SAMLAssertion": assertion if assertion is not None else self.issue(role=role),
            **extra,
        }


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Forge], dict[str, Any]]
    code: str | None
    """The AWS error code expected; None for a positive control."""
    rule: str | None = None
    message: str | None = None
    """A part of AWS's message that must appear."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


CASES: list[Case] = [
    # --- positive controls -------------------------------------------------------------------
    Case("ok-admin", lambda f: f.request(), None),
    Case(
        "ok-provider-first-pair",
        lambda f: f.request(
            f.issue(attributes=put(AwsAttribute.ROLE, f"{CORP},{ADMIN}", f"{A1}:role/Long,{CORP}")),
            role=ADMIN,
        ),
        None,
    ),
    Case(
        "ok-duration-within-role-max",
        lambda f: f.request(role=f"{A1}:role/Long", DurationSeconds=7200),
        None,
    ),
    Case(
        "ok-tags-and-source-identity-allowed",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged",
                acs=REGIONAL,
                attributes=chain(
                    tags(team="platform", cost="42"),
                    put(AwsAttribute.TRANSITIVE_TAG_KEYS, "team"),
                    put(AwsAttribute.SOURCE_IDENTITY, "alice"),
                ),
            ),
            role=f"{A1}:role/Tagged",
        ),
        None,
    ),
    Case(
        "ok-encrypted-assertion",
        lambda f: f.request(
            f.issue(role=f"{A1}:role/Partnered", sp="aws-encrypted"),
            role=f"{A1}:role/Partnered",
            principal=SECURE,
        ),
        None,
    ),
    Case(
        "ok-other-account",
        lambda f: f.request(
            f.issue(user="bob", role="arn:aws:iam::222222222222:role/Developer"),
            role="arn:aws:iam::222222222222:role/Developer",
            principal="arn:aws:iam::222222222222:saml-provider/CorpIdP",
        ),
        None,
    ),
    Case(
        "ok-response-signed-only",
        lambda f: f.request(f.issue(provider=f.variant(sign="response"))),
        None,
    ),
    Case(
        "ok-signed-with-rollover-key",
        lambda f: f.request(f.issue(provider=f.variant(sign_with="next"))),
        None,
    ),
    Case(
        "ok-tag-key-with-letters-separators-numbers",
        lambda f: f.request(
            f.issue(role=f"{A1}:role/Tagged", attributes=tags(**{"équipe 2\u3000x": "platform"})),
            role=f"{A1}:role/Tagged",
        ),
        None,
    ),
    Case(
        "ok-managed-policy-arns",
        lambda f: f.request(
            PolicyArns=[
                {"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                {"arn": f"{A1}:policy/Boundary"},
            ]
        ),
        None,
    ),
    # --- request parameters ------------------------------------------------------------------
    Case(
        "policy-arn-in-another-account",
        lambda f: f.request(PolicyArns=[{"arn": "arn:aws:iam::999999999999:policy/Foreign"}]),
        "ValidationError",
        "request.session_policy",
        "not in the role's account",
    ),
    Case(
        "assertion-over-100000-chars",
        lambda f: f.request("A" * 100_001),
        "ValidationError",
        "request.assertion_length",
        "less than or equal to 100000",
    ),
    Case(
        "provider-arn-as-role-arn",
        lambda f: f.request(role=CORP),
        "ValidationError",
        "request.role_arn",
        "Request ARN is invalid",
    ),
    Case(
        "role-arn-as-principal-arn",
        lambda f: f.request(principal=ADMIN),
        "ValidationError",
        "request.principal_arn",
        "Principal ARN is invalid",
    ),
    Case(
        "duration-over-43200",
        lambda f: f.request(DurationSeconds=43201),
        "ValidationError",
        "request.duration_seconds",
        "less than or equal to 43200",
    ),
    Case(
        "malformed-session-policy",
        lambda f: f.request(Policy="{not json"),
        "MalformedPolicyDocument",
        "request.session_policy",
    ),
    # --- provider and response ---------------------------------------------------------------
    Case(
        "provider-does-not-exist",
        lambda f: f.request(principal=f"{A1}:saml-provider/Nope"),
        "InvalidIdentityToken",
        "provider.exists",
        "Specified provider doesn't exist",
    ),
    Case(
        "not-base64",
        lambda f: f.request("!!!! not base64 !!!!"),
        "InvalidIdentityToken",
        "saml.base64",
    ),
    Case(
        "not-xml",
        lambda f: f.request(_b64(b"hello, this is not XML at all")),
        "InvalidIdentityToken",
        "saml.signature",
    ),
    Case(
        "hostile-xml-doctype",
        lambda f: f.request(
            _b64(
                b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
            )
        ),
        "InvalidIdentityToken",
        "saml.signature",
    ),
    Case(
        "unsigned",
        lambda f: f.request(f.issue(provider=f.variant(sign="none"))),
        "InvalidIdentityToken",
        "saml.signature",
        "Response signature invalid",
    ),
    Case(
        # Fails closed: whether AWS still accepts SHA-1 is unverified (StrictSts allow_sha1).
        "signed-with-rsa-sha1",
        lambda f: f.request(f.issue(provider=f.variant(algorithm="rsa-sha1"))),
        "InvalidIdentityToken",
        "saml.signature",
        "Response signature invalid",
    ),
    Case(
        "tampered-after-signing",
        lambda f: f.request(
            f.issue(edit=lambda xml: xml.replace(b"alice@corp.example", b"mallory@corp.example"))
        ),
        "InvalidIdentityToken",
        "saml.signature",
        "Response signature invalid",
    ),
    Case(
        "signed-by-unlisted-key",
        lambda f: f.request(
            f.issue(
                provider=f.variant(key=f.stranger_key[0], cert=f.stranger_key[1], next_key=None)
            )
        ),
        "InvalidIdentityToken",
        "saml.signature",
        "Response signature invalid",
    ),
    Case(
        "issuer-not-in-provider",
        lambda f: f.request(
            f.issue(
                issuer="https://evil.example/saml",
                edit=lambda xml: xml.replace(
                    b"<saml:Issuer>https://idp.corp.example/saml</saml:Issuer><samlp:Status",
                    b"<saml:Issuer>https://evil.example/saml</saml:Issuer><samlp:Status",
                ),
            )
        ),
        "InvalidIdentityToken",
        "saml.issuer",
        "Issuer not present in specified provider",
    ),
    Case(
        "plaintext-to-encryption-required-provider",
        lambda f: f.request(
            f.issue(role=f"{A1}:role/Partnered", acs=ACS),
            role=f"{A1}:role/Partnered",
            principal=SECURE,
        ),
        "InvalidIdentityToken",
        "saml.encryption",
    ),
    Case(
        "two-subject-confirmations",
        lambda f: f.request(f.issue(subject_confirmation_count=2)),
        "InvalidIdentityToken",
        "saml.subject_confirmation",
    ),
    Case(
        "confirmation-without-recipient",
        lambda f: f.request(f.issue(recipient=None)),
        "InvalidIdentityToken",
        "saml.subject_confirmation",
    ),
    Case(
        "confirmation-without-not-on-or-after",
        lambda f: f.request(f.issue(confirmation_not_on_or_after=None)),
        "InvalidIdentityToken",
        "saml.subject_confirmation",
    ),
    Case(
        "holder-of-key-confirmation",
        lambda f: f.request(
            f.issue(confirmation_method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
        ),
        "InvalidIdentityToken",
        "saml.subject_confirmation",
    ),
    Case(
        "recipient-not-aws",
        lambda f: f.request(f.issue(acs="https://evil.example/acs")),
        "InvalidIdentityToken",
        "saml.recipient",
    ),
    Case(
        "idp-answered-responder",
        lambda f: f.request(f.issue(response={"status": RESPONDER})),
        "IDPRejectedClaim",
        "saml.signature",
        "The identity provider (IdP) reported that authentication failed",
    ),
    Case(
        "recipient-in-no-aws-region",
        lambda f: f.request(f.issue(acs="https://zz-evil-9.signin.aws.amazon.com/saml")),
        "InvalidIdentityToken",
        "saml.recipient",
    ),
    Case(
        "recipient-with-trailing-newline",
        lambda f: f.request(f.issue(acs="https://signin.aws.amazon.com/saml\n")),
        "InvalidIdentityToken",
        "saml.recipient",
    ),
    Case(
        "encrypted-to-another-providers-acs",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Partnered",
                sp="aws-encrypted",
                acs="https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSP4SOMEONEELSE00000",
            ),
            role=f"{A1}:role/Partnered",
            principal=SECURE,
        ),
        "InvalidIdentityToken",
        "saml.recipient",
        "names another SAML provider",
    ),
    Case(
        "audience-only-a-regional-sign-in-url",
        lambda f: f.request(f.issue(audiences=(REGIONAL,))),
        "InvalidIdentityToken",
        "saml.audience",
    ),
    Case(
        "audience-not-aws",
        lambda f: f.request(f.issue(audiences=("https://evil.example/",))),
        "InvalidIdentityToken",
        "saml.audience",
    ),
    Case(
        "not-before-in-the-future",
        lambda f: f.request(f.issue(not_before=f.now + _minutes(10))),
        "InvalidIdentityToken",
        "saml.not_before",
    ),
    Case(
        "confirmation-expired",
        lambda f: f.request(f.issue(confirmation_not_on_or_after=f.now - _minutes(1))),
        "ExpiredTokenException",
        "saml.not_on_or_after",
        "Response has expired",
    ),
    Case(
        "confirmation-expired-seconds-ago",
        lambda f: f.request(f.issue(confirmation_not_on_or_after=f.now - dt.timedelta(seconds=5))),
        "ExpiredTokenException",
        "saml.not_on_or_after",
        "Response has expired",
    ),
    Case(
        "not-before-seconds-ahead",
        lambda f: f.request(f.issue(not_before=f.now + dt.timedelta(seconds=45))),
        "InvalidIdentityToken",
        "saml.not_before",
    ),
    Case(
        "conditions-expired",
        lambda f: f.request(f.issue(not_on_or_after=f.now - _minutes(1))),
        "ExpiredTokenException",
        "saml.not_on_or_after",
    ),
    Case(
        "issued-over-5-minutes-ago",
        lambda f: f.request(f.issue(issue_instant=f.now - _minutes(6))),
        "ExpiredTokenException",
        "saml.issue_instant_age",
        "Token must be redeemed within 5 minutes of issuance",
    ),
    Case(
        "no-name-id",
        lambda f: f.request(f.issue(name_id=None)),
        "AccessDenied",
        "saml.name_id",
        "Not authorized to perform sts:AssumeRoleWithSAML",
    ),
    Case(
        "role-not-in-assertion",
        lambda f: f.request(f.issue(role=ADMIN), role=f"{A1}:role/Long"),
        "AccessDenied",
        "saml.role_pair",
    ),
    Case(
        "role-pair-with-other-provider",
        lambda f: f.request(principal=f"{A1}:saml-provider/Other"),
        "AccessDenied",
        "saml.role_pair",
    ),
    Case(
        "malformed-role-value-beside-a-valid-one",
        lambda f: f.request(
            f.issue(attributes=put(AwsAttribute.ROLE, f"{ADMIN},{CORP}", "aws-Dev"))
        ),
        "InvalidIdentityToken",
        "saml.role_pair",
        "is not a role ARN and a SAML provider ARN",
    ),
    Case(
        "ok-space-after-the-comma",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.ROLE, f"{ADMIN}, {CORP}"))),
        None,
    ),
    Case(
        "no-role-attribute",
        lambda f: f.request(f.issue(attributes=drop(AwsAttribute.ROLE))),
        "AccessDenied",
        "saml.role_pair",
    ),
    Case(
        "role-does-not-exist",
        lambda f: f.request(f.issue(role=f"{A1}:role/Ghost"), role=f"{A1}:role/Ghost"),
        "AccessDenied",
        "role.exists",
    ),
    Case(
        "identity-center-managed-role",
        lambda f: f.request(f.issue(role=SSO_ROLE), role=SSO_ROLE),
        "AccessDenied",
        "role.not_identity_center",
        "Not authorized to perform sts:AssumeRoleWithSAML",
    ),
    Case(
        "role-session-name-with-trailing-newline",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.ROLE_SESSION_NAME, "alice\n"))),
        "InvalidIdentityToken",
        "saml.role_session_name",
        "RoleSessionName in AuthnResponse must match",
    ),
    Case(
        "session-duration-in-superscript-digits",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.SESSION_DURATION, "¹⁰⁰⁰"))),
        "InvalidIdentityToken",
        "saml.session_duration",
    ),
    Case(
        "session-tag-key-with-a-tab",
        lambda f: f.request(
            f.issue(role=f"{A1}:role/Tagged", attributes=tags(**{"team\tx": "platform"})),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.session_tags",
    ),
    Case(
        "source-identity-with-trailing-newline",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged", attributes=put(AwsAttribute.SOURCE_IDENTITY, "bob\n")
            ),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.source_identity",
        "Source Identity must match",
    ),
    Case(
        "bad-source-identity-wins-over-duration-over-role-max",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged", attributes=put(AwsAttribute.SOURCE_IDENTITY, "aws:x")
            ),
            role=f"{A1}:role/Tagged",
            DurationSeconds=7200,
        ),
        "InvalidIdentityToken",
        "saml.source_identity",
    ),
    Case(
        "no-role-session-name",
        lambda f: f.request(f.issue(attributes=drop(AwsAttribute.ROLE_SESSION_NAME))),
        "InvalidIdentityToken",
        "saml.role_session_name",
        "RoleSessionName is required in AuthnResponse",
    ),
    Case(
        "role-session-name-with-space",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.ROLE_SESSION_NAME, "Alice Smith"))),
        "InvalidIdentityToken",
        "saml.role_session_name",
        "RoleSessionName in AuthnResponse must match",
    ),
    Case(
        "role-session-name-too-long",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.ROLE_SESSION_NAME, "a" * 65))),
        "InvalidIdentityToken",
        "saml.role_session_name",
    ),
    Case(
        "session-duration-over-43200",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.SESSION_DURATION, "99999"))),
        "InvalidIdentityToken",
        "saml.session_duration",
    ),
    Case(
        "duration-over-role-max",
        lambda f: f.request(DurationSeconds=7200),
        "ValidationError",
        "request.duration_max",
        "exceeds the MaxSessionDuration set for this role",
    ),
    Case(
        "multi-valued-session-tag",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged", attributes=put(PRINCIPAL_TAG_PREFIX + "team", "a", "b")
            ),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.session_tags",
    ),
    Case(
        "transitive-key-not-a-tag",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged",
                attributes=chain(tags(team="x"), put(AwsAttribute.TRANSITIVE_TAG_KEYS, "project")),
            ),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.session_tags",
    ),
    Case(
        "fifty-one-session-tags",
        lambda f: f.request(
            f.issue(role=f"{A1}:role/Tagged", attributes=tags(**{f"k{i}": "v" for i in range(51)})),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.session_tags",
    ),
    Case(
        "source-identity-aws-prefix",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged", attributes=put(AwsAttribute.SOURCE_IDENTITY, "aws:alice")
            ),
            role=f"{A1}:role/Tagged",
        ),
        "InvalidIdentityToken",
        "saml.source_identity",
        "Source Identity must match",
    ),
    Case(
        "packed-tags-too-large",
        lambda f: f.request(
            f.issue(
                role=f"{A1}:role/Tagged",
                attributes=tags(**{f"key{i:03d}" + "k" * 120: "v" * 256 for i in range(12)}),
            ),
            role=f"{A1}:role/Tagged",
        ),
        "PackedPolicyTooLarge",
        "session.packed_size",
    ),
    Case(
        "trust-policy-trusts-another-provider",
        lambda f: f.request(f.issue(role=f"{A1}:role/Untrusting"), role=f"{A1}:role/Untrusting"),
        "AccessDenied",
        "role.trust_policy",
        "Not authorized to perform sts:AssumeRoleWithSAML",
    ),
    Case(
        "tags-without-sts-tag-session",
        lambda f: f.request(f.issue(attributes=tags(team="platform"))),
        "AccessDenied",
        "role.trust_policy",
    ),
    Case(
        "source-identity-without-set-source-identity",
        lambda f: f.request(f.issue(attributes=put(AwsAttribute.SOURCE_IDENTITY, "alice"))),
        "AccessDenied",
        "role.trust_policy",
    ),
    Case(
        "regional-recipient-vs-default-trust",
        lambda f: f.request(f.issue(acs=REGIONAL)),
        "AccessDenied",
        "role.trust_policy",
    ),
]
