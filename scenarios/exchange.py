"""Where assertions are exchanged: moto in-process (default; the scenario's AWS world provisioned
fresh), a running strict STS server (its IAM reconciled with the scenario first), or live AWS.
Each backend answers with an :class:`ExchangeOutcome`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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
        self.sts = StrictSts(
            provisioned.iam(), clock=clock, allow_sha1=loaded.scenario.sts.allow_sha1
        )

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
    """A running ``fedharness sts serve``: its IAM brought to the scenario, called with boto3.

    Before any exchange the server's IAM is reconciled with the scenario
    (:func:`~sp_fixtures.aws.provision.reconcile`): missing providers and roles are created and
    existing ones are updated to the scenario's definition, so a verdict never rests on a
    server left with another version of them. Each change is reported, one line each, through
    ``report`` (default: standard error) and kept in :attr:`changes`. Providers and roles the
    scenario does not name are left alone; one the scenario names is changed even if another
    scenario set it up on the same server.

    The server judges with its own flags (``--allow-sha1``, ``--refuse-replays``), not with the
    scenario's ``sts:`` settings.
    """

    mode: AwsMode = "server"

    def __init__(
        self,
        loaded: LoadedScenario,
        endpoint_url: str,
        *,
        report: Callable[[str], None] | None = None,
    ) -> None:
        import boto3

        from sp_fixtures.aws.iam_view import pin_moto_account
        from sp_fixtures.aws.provision import reconcile

        self.session = boto3.Session(
            aws_access_key_id="fedharness",
            aws_secret_access_key="fedharness",  # noqa: S106 - moto
            region_name="us-east-1",
        )

        def iam_client(account_id: str) -> Any:
            client = self.session.client("iam", endpoint_url=endpoint_url)
            pin_moto_account(client, account_id)
            return client

        with _one_reconcile_at_a_time():
            reconciled = reconcile(
                loaded.scenario.aws,
                iam_client_factory=iam_client,
                idp_metadata=loaded.provider.metadata(),
                base_dir=loaded.path.parent,
                scenario_name=_tag_name(loaded.name),
            )
        self.changes: tuple[str, ...] = reconciled.changes
        """What reconciling changed on the server, one line each (empty: it already matched)."""
        say = report if report is not None else _to_stderr
        for change in self.changes:
            say(f"server {endpoint_url}: {change}")
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
        # Our own verdict, compared with AWS's, follows the scenario's STS settings.
        self.sts.strict.allow_sha1 = loaded.scenario.sts.allow_sha1

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


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


@contextlib.contextmanager
def _one_reconcile_at_a_time() -> Iterator[None]:
    """Let one of this user's processes at a time reconcile a server (any server: it is quick).

    ``run --jobs N`` workers each open a ServerExchanger: in turn, the first brings the server to
    the scenario and the others find nothing to change, instead of racing (two detaches of one
    policy, the second refused). No lock where ``fcntl`` is missing (not POSIX).
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = Path(tempfile.gettempdir()) / f"fedharness-{os.getuid()}-server-reconcile.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
