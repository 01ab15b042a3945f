"""Live mode: send AssumeRoleWithSAML to real AWS and cross-check it with the strict STS.

AWS is the ground truth the strict layer is built to match (aws-sts-saml.md §7.5). :class:`LiveSts`
calls the real STS — unsigned, as AWS requires nothing else — and, on the same request at the
same moment, asks :class:`~sp_fixtures.aws.sts.StrictSts` for its verdict over the account's real
IAM state (:class:`~sp_fixtures.aws.iam_view.LiveIam`), without minting anything. Where the two
disagree — one accepts and the other refuses, or both refuse with different error codes — the
exchange carries a :class:`FidelityFinding`, which is also logged and kept on
:attr:`LiveSts.findings` for the runner's report. A disagreement never raises: only a failure to
reach AWS (or to read its IAM) does, as :class:`LiveStsError`.

Limits of the cross-check, by construction: AWS never returns a provider's private keys, so with
the default :class:`LiveIam` encrypted assertions are refused on our side (pass an ``iam`` that
holds the keys); and LiveIam sees only the account of the session's credentials.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import botocore
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

from sp_fixtures.aws.account import IamView
from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.iam_view import DEFAULT_REGION, LiveIam
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, Exchange, StrictSts, Verdict

__all__ = [
    "AwsUnreachableError",
    "Disagreement",
    "FidelityFinding",
    "IamReadError",
    "LiveExchange",
    "LiveSts",
    "LiveStsError",
    "find_disagreement",
]

log = logging.getLogger(__name__)

INTERNAL_FAILURE = "InternalFailure"
"""AWS's code for a server-side failure; also used for a 5xx reply botocore cannot parse."""
UNPARSEABLE = "UnparseableResponse"
"""Our code for a reply below 500 that is not STS's XML (AWS never sends one; a proxy might)."""
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeout, TLS, proxy
    botocore.exceptions.HTTPClientError,  # read timeout, connection closed mid-reply
)
_API_MEMBERS = frozenset(
    {"RoleArn", "PrincipalArn", "SAMLAssertion", "DurationSeconds", "Policy", "PolicyArns"}
)
"""The AssumeRoleWithSAML parameters the strict STS reads (and so the ones compared)."""
_MESSAGE_IN_REPORT = 200
"""Longest message :meth:`FidelityFinding.describe` quotes (an HTML error page is long)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- errors -------------------------------------------------------------------------------------


class LiveStsError(Exception):
    """Root of the live cross-check's errors: the exchange could not be made at all."""

    code: ClassVar[str] = "live_sts_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AwsUnreachableError(LiveStsError):
    """AWS (STS or IAM) could not be reached: connection refused, timeout, TLS failure."""

    code: ClassVar[str] = "aws_unreachable"


class IamReadError(LiveStsError):
    """IAM refused to tell us what our verdict needs (credentials or permissions missing)."""

    code: ClassVar[str] = "iam_read_failed"


# --- results ------------------------------------------------------------------------------------


class Disagreement(StrEnum):
    """How AWS's answer and the strict STS's verdict differ."""

    AWS_ACCEPTED_WE_REFUSED = "aws_accepted_we_refused"
    WE_ACCEPTED_AWS_REFUSED = "we_accepted_aws_refused"
    DIFFERENT_ERRORS = "different_errors"


@dataclass(frozen=True)
class FidelityFinding:
    """AWS and fedharness answered one request differently; both answers, for the report."""

    kind: Disagreement
    role_arn: str
    principal_arn: str
    aws_error_code: str | None
    """None when AWS accepted."""
    aws_error_message: str | None
    aws_status: int | None
    """HTTP status of AWS's reply (None when AWS accepted)."""
    our_error_code: str | None
    """None when the strict STS accepted."""
    our_error_message: str | None
    rule: str | None
    """The id of the strict-STS rule that refused (None when it accepted)."""
    detail: str | None = None
    """Our finer reason, e.g. the verifier's error code."""

    def describe(self) -> str:
        """Return one line for a report, naming both answers and our rule."""
        ours = (
            f"fedharness refused with {self.our_error_code} "
            f"(rule {self.rule}: {_short(self.our_error_message)})"
        )
        aws = f"AWS refused with {self.aws_error_code} ({_short(self.aws_error_message)})"
        if self.kind is Disagreement.AWS_ACCEPTED_WE_REFUSED:
            said = f"AWS accepted but {ours}"
        elif self.kind is Disagreement.WE_ACCEPTED_AWS_REFUSED:
            said = f"fedharness accepted but {aws}"
        else:
            said = f"{aws} but {ours}"
        return f"fidelity finding: {said} [RoleArn {self.role_arn}]"


def _short(message: str | None) -> str:
    text = " ".join((message or "").split())
    return text if len(text) <= _MESSAGE_IN_REPORT else text[: _MESSAGE_IN_REPORT - 1] + "…"


@dataclass(frozen=True)
class LiveExchange:
    """One AssumeRoleWithSAML: AWS's answer or error, our verdict, and a finding if they differ."""

    request: AssumeRoleWithSamlRequest = field(repr=False)
    at: dt.datetime
    """Our clock when the exchange began: our verdict is for this moment, AWS's just after."""
    aws_answer: Mapping[str, object] | None = field(repr=False)
    """boto3's response without ResponseMetadata when AWS issued credentials (kept out of repr:
    it holds live credentials)."""
    aws_error_code: str | None
    aws_error_message: str | None
    aws_status: int | None
    """HTTP status of AWS's reply; None when the reply carried none botocore reports."""
    verdict: Verdict = field(repr=False)
    """The strict STS's verdict, with the rules that passed (nothing minted)."""
    finding: FidelityFinding | None

    @property
    def aws_accepted(self) -> bool:
        """Return whether AWS issued credentials."""
        return self.aws_answer is not None

    @property
    def we_accepted(self) -> bool:
        """Return whether every strict-STS rule passed."""
        return self.verdict.error is None

    @property
    def our_error_code(self) -> str | None:
        """Return the AWS error code the strict STS refused with (None when it accepted)."""
        return self.verdict.error.code if self.verdict.error is not None else None

    @property
    def our_error_message(self) -> str | None:
        """Return the strict STS's error message (None when it accepted)."""
        return self.verdict.error.message if self.verdict.error is not None else None

    @property
    def our_rule(self) -> str | None:
        """Return the id of the rule that refused (None when every rule passed)."""
        return self.verdict.failed_rule


@dataclass(frozen=True)
class _AwsReply:
    answer: Mapping[str, object] | None = None
    error_code: str | None = None
    error_message: str | None = None
    status: int | None = None


def find_disagreement(
    request: AssumeRoleWithSamlRequest,
    verdict: Verdict,
    *,
    aws_error_code: str | None,
    aws_error_message: str | None = None,
    aws_status: int | None = None,
) -> FidelityFinding | None:
    """Return the finding when AWS (``aws_error_code`` None: accepted) and ``verdict`` differ."""
    error = verdict.error
    ours = error.code if error is not None else None
    if ours == aws_error_code:
        return None
    if aws_error_code is None:
        kind = Disagreement.AWS_ACCEPTED_WE_REFUSED
    elif ours is None:
        kind = Disagreement.WE_ACCEPTED_AWS_REFUSED
    else:
        kind = Disagreement.DIFFERENT_ERRORS
    return FidelityFinding(
        kind=kind,
        role_arn=request.RoleArn,
        principal_arn=request.PrincipalArn,
        aws_error_code=aws_error_code,
        aws_error_message=aws_error_message,
        aws_status=aws_status,
        our_error_code=ours,
        our_error_message=error.message if error is not None else None,
        rule=verdict.failed_rule,
        detail=error.detail if error is not None else None,
    )


# --- the cross-check ----------------------------------------------------------------------------


class LiveSts:
    """AssumeRoleWithSAML against real AWS, each answer cross-checked with the strict STS."""

    def __init__(
        self,
        session: Any,
        *,
        endpoint_url: str | None = None,
        iam: IamView | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        max_attempts: int = 3,
    ) -> None:
        self._session = session
        self.endpoint_url = endpoint_url
        """STS (and, by default, IAM) endpoint; None for AWS's own."""
        self.clock = clock
        self.max_attempts = max_attempts
        """botocore attempts per STS call (standard retry mode: throttling and 5xx retried)."""
        self.strict = StrictSts(iam or LiveIam(session, endpoint_url=endpoint_url), clock=clock)
        """The strict STS that judges each request; it never mints here."""
        self.findings: list[FidelityFinding] = []
        """Every finding so far, in order, for the runner's report."""
        self._reply_status = threading.local()

    @functools.cached_property
    def client(self) -> Any:
        """Return the unsigned STS client (AssumeRoleWithSAML takes no AWS credentials)."""
        config = Config(
            signature_version=botocore.UNSIGNED,
            # AWS, not botocore, must judge every request: an assertion over 100,000 chars or
            # a bad DurationSeconds is sent on, so the answer compared is AWS's own.
            parameter_validation=False,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
        )
        client = self._session.client(
            "sts",
            region_name=self._session.region_name or DEFAULT_REGION,
            endpoint_url=self.endpoint_url,
            config=config,
        )
        client.meta.events.register("before-parse.sts.AssumeRoleWithSAML", self._record_status)
        return client

    def assume_role_with_saml(self, **params: object) -> LiveExchange:
        """Send the call to AWS, judge it ourselves, and return both answers side by side."""
        try:
            request = AssumeRoleWithSamlRequest.from_params(params)
        except StsError as error:
            return self._refused_while_decoding(params, error)
        return self.exchange(request)

    def exchange(self, request: AssumeRoleWithSamlRequest) -> LiveExchange:
        """Judge ``request``, send it to AWS, and record a finding where the two differ."""
        return self._run(request, _boto3_params(request), lambda now: self._judge(request, now))

    def _refused_while_decoding(
        self, params: Mapping[str, object], error: StsError
    ) -> LiveExchange:
        """Cross-check a call whose parameters we refuse before any rule (a bad DurationSeconds).

        AWS gets the parameters exactly as given; the request kept as evidence holds only the
        three that always decode.
        """
        request = AssumeRoleWithSamlRequest(
            RoleArn=str(params.get("RoleArn", "")),
            PrincipalArn=str(params.get("PrincipalArn", "")),
            SAMLAssertion=str(params.get("SAMLAssertion", "")),
        )
        sent = {key: value for key, value in params.items() if key in _API_MEMBERS}

        def verdict(now: dt.datetime) -> Verdict:
            return Verdict(Exchange(request=request, now=now), error, error.rule, ())

        return self._run(request, sent, verdict)

    def _run(
        self,
        request: AssumeRoleWithSamlRequest,
        aws_params: Mapping[str, object],
        judge: Callable[[dt.datetime], Verdict],
    ) -> LiveExchange:
        now = self.clock()
        verdict = judge(now)
        reply = self._call_aws(aws_params)
        finding = find_disagreement(
            request,
            verdict,
            aws_error_code=reply.error_code,
            aws_error_message=reply.error_message,
            aws_status=reply.status,
        )
        if finding is not None:
            log.warning("%s", finding.describe())
            self.findings.append(finding)
        return LiveExchange(
            request=request,
            at=now,
            aws_answer=reply.answer,
            aws_error_code=reply.error_code,
            aws_error_message=reply.error_message,
            aws_status=reply.status,
            verdict=verdict,
            finding=finding,
        )

    def _judge(self, request: AssumeRoleWithSamlRequest, now: dt.datetime) -> Verdict:
        try:
            return self.strict.judge(request, now=now)
        except _TRANSPORT_ERRORS as exc:
            raise AwsUnreachableError(f"could not reach IAM to judge the request: {exc}") from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise IamReadError(
                "no AWS credentials: live mode reads the SAML provider and roles from IAM, so it "
                "needs the sandbox account's (--profile, AWS_PROFILE or AWS_* variables)"
            ) from exc
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            botocore.parsers.ResponseParserError,
        ) as exc:
            raise IamReadError(
                "could not read the SAML provider or role from IAM, which fedharness's verdict "
                f"needs (the credentials need iam:GetSAMLProvider, iam:GetRole, "
                f"iam:ListAttachedRolePolicies, iam:ListRolePolicies, iam:GetRolePolicy): {exc}"
            ) from exc

    def _call_aws(self, params: Mapping[str, object]) -> _AwsReply:
        self._reply_status.value = None
        try:
            answer = dict(self.client.assume_role_with_saml(**params))
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            metadata = exc.response.get("ResponseMetadata", {})
            return _AwsReply(
                error_code=str(error.get("Code") or INTERNAL_FAILURE),
                error_message=str(error.get("Message", "")),
                status=metadata.get("HTTPStatusCode") or self._reply_status.value,
            )
        except botocore.parsers.ResponseParserError as exc:
            # A reply that is not STS's XML: moto's crash page is an HTTP 500 HTML document.
            status: int | None = self._reply_status.value
            code = INTERNAL_FAILURE if status is None or status >= 500 else UNPARSEABLE
            return _AwsReply(
                error_code=code, error_message=f"unparseable reply: {exc}", status=status
            )
        except _TRANSPORT_ERRORS as exc:
            where = self.endpoint_url or "its default endpoint"
            raise AwsUnreachableError(f"could not reach AWS STS at {where}: {exc}") from exc
        answer.pop("ResponseMetadata", None)
        return _AwsReply(answer=answer, status=self._reply_status.value or 200)

    def _record_status(self, response_dict: Mapping[str, Any], **_: object) -> None:
        self._reply_status.value = response_dict.get("status_code")


def _boto3_params(request: AssumeRoleWithSamlRequest) -> dict[str, object]:
    """Return boto3's keyword arguments for exactly the request the strict STS judged."""
    params: dict[str, object] = {
        "RoleArn": request.RoleArn,
        "PrincipalArn": request.PrincipalArn,
        "SAMLAssertion": request.SAMLAssertion,
    }
    if request.DurationSeconds is not None:
        params["DurationSeconds"] = request.DurationSeconds
    if request.Policy is not None:
        params["Policy"] = request.Policy
    if request.PolicyArns:
        params["PolicyArns"] = [{"arn": arn} for arn in request.PolicyArns]
    return params
