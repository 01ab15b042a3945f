"""Strict ``AssumeRoleWithSAML``: the checks AWS STS makes, in front of moto.

moto on its own checks nothing (aws-sts-saml.md §5). :class:`StrictSts` runs every rule of
:data:`RULES` in order — each a small named check with a stable id that raises the error AWS
raises — and only then asks a :class:`Minter` (moto) for credentials. The answer has the shape
boto3 returns, with the real Subject, SubjectType, Issuer, Audience, NameQualifier and
SourceIdentity instead of moto's placeholders.

Where AWS's behaviour is not documented (marked "unverified" in a rule's doc), the rule fails
closed: it refuses, with the most plausible AWS error code. So SHA-1 (RSA-SHA1 signatures,
SHA-1 digests) is refused unless the STS is built with ``allow_sha1=True``: whether AWS still
accepts it is unverified.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sp_fixtures.aws import errors as e
from sp_fixtures.aws.account import IamView, RoleRecord
from sp_fixtures.aws.context import name_qualifier, subject_type
from sp_fixtures.aws.rules import RULES, Exchange, Rule, _validation

__all__ = [
    "RULES",
    "AssumeRoleWithSamlRequest",
    "Exchange",
    "MintedSession",
    "Minter",
    "MotoMinter",
    "Rule",
    "StrictSts",
    "Verdict",
]


@dataclass(frozen=True)
class AssumeRoleWithSamlRequest:
    """The parameters of an AssumeRoleWithSAML call, as the API names them."""

    RoleArn: str
    PrincipalArn: str
    SAMLAssertion: str
    DurationSeconds: int | None = None
    Policy: str | None = None
    PolicyArns: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> AssumeRoleWithSamlRequest:
        """Build a request from boto3-style keyword arguments (unknown keys ignored).

        DurationSeconds must be a plain decimal integer. What AWS answers for anything else is
        undocumented (unverified): it is refused with a ValidationError in AWS's constraint
        format, never a crash; an absurdly long number by the bound it breaks, unconverted.
        """
        duration = params.get("DurationSeconds")
        seconds: int | None = None
        if duration is not None:
            text = str(duration)
            constraint = None
            if not re.fullmatch(r"-?[0-9]+", text):
                constraint = "Member must be an integer"
            elif len(text.lstrip("-")) > 18:
                constraint = (
                    "Member must have value greater than or equal to 900"
                    if text.startswith("-")
                    else "Member must have value less than or equal to 43200"
                )
            if constraint is not None:
                error = _validation("durationSeconds", text, constraint)
                error.rule = "request.duration_seconds"
                raise error
            seconds = int(text)
        arns = params.get("PolicyArns")
        policy_arns = tuple(
            str(a["arn"]) if isinstance(a, Mapping) else str(a)
            for a in (arns if isinstance(arns, list | tuple) else ())
        )
        return cls(
            RoleArn=str(params.get("RoleArn", "")),
            PrincipalArn=str(params.get("PrincipalArn", "")),
            SAMLAssertion=str(params.get("SAMLAssertion", "")),
            DurationSeconds=seconds,
            Policy=str(params["Policy"]) if params.get("Policy") is not None else None,
            PolicyArns=policy_arns,
        )


@dataclass(frozen=True)
class MintedSession:
    """Credentials a minter issued for an assumed role."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    assumed_role_id: str


class Minter(Protocol):
    """Issues credentials once every check has passed."""

    def mint(
        self, role: RoleRecord, session_name: str, duration: int, session_policy: str | None
    ) -> MintedSession:
        """Return credentials for ``role`` valid ``duration`` seconds."""
        ...


class MotoMinter:
    """Mint credentials in moto's STS backend of the role's own account.

    Calling the backend's ``assume_role`` (not ``assume_role_with_saml``) registers the session
    in the role's account, so cross-account sessions work under IAM enforcement (moto files SAML
    sessions under the caller's account: aws-sts-saml.md §5.4 C3).
    """

    def mint(
        self, role: RoleRecord, session_name: str, duration: int, session_policy: str | None
    ) -> MintedSession:
        """Return credentials moto will honour for later calls."""
        from moto.sts.models import sts_backends

        backend = sts_backends[role.account_id]["aws"]
        assumed = backend.assume_role(
            region_name="us-east-1",
            role_session_name=session_name,
            role_arn=role.arn,
            policy=session_policy or "",
            duration=duration,
            external_id="",
        )
        return MintedSession(
            access_key_id=assumed.access_key_id,
            secret_access_key=assumed.secret_access_key,
            session_token=assumed.session_token,
            assumed_role_id=f"{role.role_id}:{session_name}",
        )


@dataclass(frozen=True)
class Verdict:
    """What the strict checks concluded, with the evidence ``explain`` shows."""

    exchange: Exchange
    error: e.StsError | None
    failed_rule: str | None
    passed_rules: tuple[str, ...]


class StrictSts:
    """AssumeRoleWithSAML with AWS's checks; credentials from a minter (moto by default)."""

    def __init__(
        self,
        iam: IamView,
        *,
        minter: Minter | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        skew: dt.timedelta = dt.timedelta(0),
        max_age: dt.timedelta = dt.timedelta(minutes=5),
        refuse_replays: bool = False,
        allow_sha1: bool = False,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        self.iam = iam
        self.minter: Minter = minter or MotoMinter()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.skew = skew
        """Clock skew allowed on NotBefore/NotOnOrAfter/IssueInstant. AWS publishes none (an
        assertion with a one-minute window expires there, saml2aws #759), so none by default."""
        self.max_age = max_age
        """How long after IssueInstant an assertion may be redeemed."""
        self.refuse_replays = refuse_replays
        """Refuse an assertion ID already exchanged (off by default: AWS's behaviour is
        undocumented, and CLIs commonly exchange one assertion for several roles)."""
        self.allow_sha1 = allow_sha1
        """Accept RSA-SHA1 signatures and SHA-1 digests (off by default: whether AWS still
        accepts SHA-1 is undocumented, so the STS fails closed)."""
        self.seen_assertions: set[tuple[str, str]] = set()
        self.rules = tuple(rules)

    def judge(
        self, request: AssumeRoleWithSamlRequest, *, now: dt.datetime | None = None
    ) -> Verdict:
        """Run every rule; return the verdict without minting anything."""
        exchange = Exchange(request=request, now=now or self.clock())
        passed: list[str] = []
        for rule in self.rules:
            try:
                rule.check(self, exchange)
            except e.StsError as error:
                error.rule = error.rule or rule.id
                return Verdict(exchange, error, error.rule, tuple(passed))
            passed.append(rule.id)
        return Verdict(exchange, None, None, tuple(passed))

    def assume_role_with_saml(
        self, *, now: dt.datetime | None = None, **params: object
    ) -> dict[str, object]:
        """Check the request as AWS would and return boto3's response shape, or raise StsError."""
        return self.answer_params(params, now=now)

    def answer_params(
        self, params: Mapping[str, object], *, now: dt.datetime | None = None
    ) -> dict[str, object]:
        """Do what :meth:`assume_role_with_saml` does for parameters read off the wire.

        A wire parameter is never taken for the ``now`` keyword, so a request cannot set the clock.
        """
        verdict = self.judge(AssumeRoleWithSamlRequest.from_params(params), now=now)
        if verdict.error is not None:
            raise verdict.error
        return self.answer(verdict.exchange)

    def answer(self, ex: Exchange) -> dict[str, object]:
        """Mint credentials for a request that passed every rule and shape AWS's answer."""
        assert ex.role is not None and ex.verified is not None  # noqa: S101
        minted = self.minter.mint(ex.role, ex.session_name, ex.duration, ex.request.Policy)
        answer: dict[str, object] = {
            "Credentials": {
                "AccessKeyId": minted.access_key_id,
                "SecretAccessKey": minted.secret_access_key,
                "SessionToken": minted.session_token,
                "Expiration": (ex.now + dt.timedelta(seconds=ex.duration)).replace(microsecond=0),
            },
            "AssumedRoleUser": {
                "AssumedRoleId": minted.assumed_role_id,
                "Arn": f"arn:aws:sts::{ex.role.account_id}:assumed-role/{ex.role.name}/"
                f"{ex.session_name}",
            },
            "Subject": ex.response.name_id,
            "SubjectType": subject_type(ex.response.name_id_format),
            "Issuer": ex.response.issuer,
            "Audience": ex.recipient,
            "NameQualifier": name_qualifier(
                ex.response.issuer or "", ex.provider_account, ex.provider_name
            ),
        }
        if ex.packed_policy_size is not None:
            answer["PackedPolicySize"] = ex.packed_policy_size
        if ex.source_identity is not None:
            answer["SourceIdentity"] = ex.source_identity
        return answer
