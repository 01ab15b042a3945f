"""Where assertions are exchanged: moto in-process (default), a running strict STS server, or
live AWS. Each backend provisions what it can and answers with an :class:`ExchangeOutcome`."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from scenarios.loader import LoadedScenario

AwsMode = Literal["moto", "server", "live"]


@dataclass(frozen=True)
class ExchangeOutcome:
    """The answer to one AssumeRoleWithSAML call."""

    role_arn: str
    principal_arn: str
    answer: dict[str, Any] | None = None
    """boto3's response shape when credentials were issued."""
    error_code: str | None = None
    error_message: str | None = None
    rule: str | None = None
    """The strict-STS rule that refused (known in-process only)."""
    finding: str | None = None
    """Live mode: how AWS and fedharness's own verdict disagreed."""
    explanation: str | None = None
    """Why the rule refused, when known (e.g. the trust-policy condition that failed)."""

    @property
    def ok(self) -> bool:
        """Return whether credentials were issued."""
        return self.answer is not None

    def describe(self) -> str:
        """Return one line: the session, or the error with its rule."""
        if self.answer is not None:
            return f"credentials for {self.answer['AssumedRoleUser']['Arn']}"
        rule = f" [rule {self.rule}]" if self.rule else ""
        why = f" — {self.explanation}" if self.explanation else ""
        return f"{self.error_code}: {self.error_message}{rule}{why}"


class Exchanger(Protocol):
    """Exchanges SAML assertions for role credentials."""

    mode: AwsMode

    def exchange(self, role_arn: str, principal_arn: str, assertion: str) -> ExchangeOutcome:
        """Call AssumeRoleWithSAML once."""
        ...


class MotoExchanger:
    """The strict STS over moto in-process: the scenario's AWS world provisioned fresh."""

    mode: AwsMode = "moto"

    def __init__(
        self, loaded: LoadedScenario, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        from sp_fixtures.aws.iam_view import moto_iam_client_factory
        from sp_fixtures.aws.provision import provision
        from sp_fixtures.aws.sts import StrictSts

        provisioned = provision(
            loaded.scenario.aws,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=loaded.provider.metadata(),
            base_dir=loaded.path.parent,
            scenario_name=_tag_name(loaded.name),
        )
        self.sts = StrictSts(provisioned.iam(), clock=clock)

    def exchange(self, role_arn: str, principal_arn: str, assertion: str) -> ExchangeOutcome:
        """Judge the request strictly; mint credentials in moto when it passes."""
        from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest

        verdict = self.sts.judge(
            AssumeRoleWithSamlRequest(
                RoleArn=role_arn, PrincipalArn=principal_arn, SAMLAssertion=assertion
            )
        )
        if verdict.error is not None:
            decisions = verdict.exchange.trust_decisions
            explanation = (
                decisions[-1].describe()
                if decisions and not decisions[-1].allowed
                else verdict.error.detail
            )
            return ExchangeOutcome(
                role_arn,
                principal_arn,
                error_code=verdict.error.code,
                error_message=verdict.error.message,
                rule=verdict.failed_rule,
                explanation=explanation,
            )
        return ExchangeOutcome(role_arn, principal_arn, answer=self.sts.answer(verdict.exchange))


class ServerExchanger:
    """A running ``fedharness sts serve``: provisioned through its IAM API, called with boto3."""

    mode: AwsMode = "server"

    def __init__(self, loaded: LoadedScenario, endpoint_url: str) -> None:
        import boto3

        from sp_fixtures.aws.iam_view import pin_moto_account
        from sp_fixtures.aws.provision import provision

        self.session = boto3.Session(
            aws_access_key_id="fedharness",
            aws_secret_access_key="fedharness",  # noqa: S106 - moto
            region_name="us-east-1",
        )

        def iam_client(account_id: str) -> Any:
            client = self.session.client("iam", endpoint_url=endpoint_url)
            pin_moto_account(client, account_id)
            return client

        if not _already_provisioned(loaded, iam_client):
            provision(
                loaded.scenario.aws,
                iam_client_factory=iam_client,
                idp_metadata=loaded.provider.metadata(),
                base_dir=loaded.path.parent,
                scenario_name=_tag_name(loaded.name),
            )
        self.sts_client = self.session.client("sts", endpoint_url=endpoint_url)

    def exchange(self, role_arn: str, principal_arn: str, assertion: str) -> ExchangeOutcome:
        """Call the server's AssumeRoleWithSAML with boto3."""
        from botocore.exceptions import ClientError

        try:
            answer = self.sts_client.assume_role_with_saml(
                RoleArn=role_arn, PrincipalArn=principal_arn, SAMLAssertion=assertion
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return ExchangeOutcome(
                role_arn,
                principal_arn,
                error_code=error.get("Code"),
                error_message=error.get("Message"),
            )
        answer.pop("ResponseMetadata", None)
        return ExchangeOutcome(role_arn, principal_arn, answer=answer)


class LiveExchanger:
    """Real AWS (a sandbox account set up with ``fedharness aws apply``), cross-checked."""

    mode: AwsMode = "live"

    def __init__(
        self,
        loaded: LoadedScenario,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        import boto3

        from sp_fixtures.aws.live_sts import LiveSts

        session = boto3.Session(profile_name=profile, region_name=region or "us-east-1")
        self.sts = LiveSts(session, endpoint_url=endpoint_url)

    def exchange(self, role_arn: str, principal_arn: str, assertion: str) -> ExchangeOutcome:
        """Call AWS; report where our own verdict disagrees."""
        live = self.sts.assume_role_with_saml(
            RoleArn=role_arn, PrincipalArn=principal_arn, SAMLAssertion=assertion
        )
        finding = live.finding.describe() if live.finding is not None else None
        if live.aws_answer is not None:
            return ExchangeOutcome(
                role_arn, principal_arn, answer=dict(live.aws_answer), finding=finding
            )
        return ExchangeOutcome(
            role_arn,
            principal_arn,
            error_code=live.aws_error_code,
            error_message=live.aws_error_message,
            finding=finding,
        )


def _already_provisioned(loaded: LoadedScenario, iam_client: Any) -> bool:
    """Return whether every provider and role of the scenario exists on the server already
    (``fedharness sts serve --config`` provisions the same world at start)."""
    from botocore.exceptions import ClientError

    for account_id, account in loaded.scenario.aws.accounts.items():
        client = iam_client(account_id)
        try:
            for name in account.saml_providers:
                client.get_saml_provider(
                    SAMLProviderArn=f"arn:aws:iam::{account_id}:saml-provider/{name}"
                )
            for name in account.roles:
                client.get_role(RoleName=name)
        except ClientError:
            return False
    return bool(loaded.scenario.aws.accounts)


def _tag_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "+-=._:/@" else "-" for ch in name)
    return cleaned[:200] or "fedharness"


@contextlib.contextmanager
def open_exchanger(
    loaded: LoadedScenario,
    mode: AwsMode = "moto",
    *,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Iterator[Exchanger]:
    """Set up the backend for one scenario and tear it down afterwards."""
    if mode == "moto":
        from moto import mock_aws

        with mock_aws():
            yield MotoExchanger(loaded, clock=clock)
    elif mode == "server":
        if endpoint_url is None:
            raise ValueError("--aws server needs --endpoint-url")
        yield ServerExchanger(loaded, endpoint_url)
    else:
        yield LiveExchanger(loaded, profile=profile, region=region, endpoint_url=endpoint_url)


def utcnow() -> dt.datetime:
    """Return the current time (the one clock read of a run)."""
    return dt.datetime.now(dt.UTC)
