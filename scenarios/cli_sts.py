"""``fedharness sts serve``: the strict STS + IAM endpoint (moto behind AWS's SAML checks).

Registered by ``scenarios.cli`` with ``main.add_command(sts)``; also runnable on its own as
``python -m scenarios.cli_sts serve …``.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from scenarios.cli_aws import reports_aws_errors
from scenarios.cli_common import err_console, fail, is_loopback, reports_bad_input

if TYPE_CHECKING:
    from sp_fixtures.aws.account import AwsWorld
    from sp_fixtures.aws.iam_view import ProviderExtras
    from sp_fixtures.aws.provision import ProvisionedWorld
    from sp_fixtures.aws.server import RunningServer

DEFAULT_ACCOUNT = "123456789012"
"""moto's account for requests that name none."""
_AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


@click.group("sts", context_settings={"help_option_names": ["-h", "--help"]})
def sts() -> None:
    """The strict STS endpoint: AWS's AssumeRoleWithSAML checks in front of moto."""


@sts.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback only, unless --allow-remote).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scenario file: provision its aws: world (providers, roles) before serving.",
)
@click.option(
    "--refuse-replays",
    is_flag=True,
    help="Refuse an assertion ID already exchanged (AWS's behaviour is undocumented).",
)
@click.option(
    "--allow-sha1",
    is_flag=True,
    help="Accept RSA-SHA1 signatures and SHA-1 digests (refused by default: whether AWS still "
    "accepts SHA-1 is unverified).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host: anyone who reaches it can change IAM and mint credentials.",
)
@reports_bad_input
@reports_aws_errors
def sts_serve(
    host: str,
    port: int,
    config_path: Path | None,
    refuse_replays: bool,
    allow_sha1: bool,
    allow_remote: bool,
) -> None:
    """Serve strict STS and moto's IAM (and the rest of moto) over HTTP until Ctrl-C."""
    from sp_fixtures.aws.iam_view import MotoIam, ProviderExtras
    from sp_fixtures.aws.server import StrictStsApp, serve_in_thread
    from sp_fixtures.aws.sts import StrictSts

    if not is_loopback(host) and not allow_remote:
        fail(
            f"--host {host} is not a loopback address: anyone who reaches it could change IAM "
            "and mint credentials; add --allow-remote to listen there anyway"
        )
    scenario = _load_scenario(config_path) if config_path is not None else None
    extras = ProviderExtras()
    strict = StrictSts(MotoIam(extras), refuse_replays=refuse_replays, allow_sha1=allow_sha1)
    try:
        running = serve_in_thread(StrictStsApp(strict, extras=extras), host=host, port=port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    previous_sigterm = _stop_on_sigterm()
    try:
        provisioned = None
        if scenario is not None and config_path is not None:
            provisioned = _provision(scenario, config_path, running, extras)
        _print_usage(running, host, config_path, provisioned, allow_sha1=allow_sha1)
        while running.thread.is_alive():
            running.thread.join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
    click.echo("stopped")


def _stop_on_sigterm() -> Any:
    """Make SIGTERM stop the server like Ctrl-C; return the previous handler."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


@dataclass(frozen=True)
class _Scenario:
    """What ``--config`` provides: the scenario's name, AWS world and IdP metadata."""

    name: str
    world: AwsWorld
    idp_metadata: bytes


def _load_scenario(config_path: Path) -> _Scenario:
    from idp.provider import IdentityProvider
    from scenarios.cli_aws import load_world

    name, world = load_world(config_path)
    return _Scenario(name, world, IdentityProvider.from_file(config_path).metadata())


def _provision(
    scenario: _Scenario, config_path: Path, running: RunningServer, extras: ProviderExtras
) -> ProvisionedWorld:
    """Create the scenario's providers and roles through the server's own IAM endpoint."""
    import boto3

    from sp_fixtures.aws.account import UnknownManagedPolicyError
    from sp_fixtures.aws.iam_view import ensure_moto_managed_policy, pin_moto_account
    from sp_fixtures.aws.provision import provision

    # moto's server loads AWS managed policies only with MOTO_IAM_LOAD_MANAGED_POLICIES, into
    # every account: load just those the roles attach (same process, same backends).
    for account_id, account in scenario.world.accounts.items():
        for role_name, role in account.roles.items():
            for policy in role.policies:
                if policy.startswith(_AWS_MANAGED_POLICY_PREFIX) and not (
                    ensure_moto_managed_policy(account_id, policy)
                ):
                    raise UnknownManagedPolicyError(
                        f"role {role_name} in {account_id}: {policy} is not an AWS managed "
                        "policy moto knows"
                    )

    def iam_client(account_id: str) -> Any:
        client = boto3.client(
            "iam",
            endpoint_url=running.url,
            region_name="us-east-1",
            aws_access_key_id="fedharness",
            aws_secret_access_key="moto-checks-no-secret",  # noqa: S106
        )
        pin_moto_account(client, account_id)
        return client

    return provision(
        scenario.world,
        iam_client_factory=iam_client,
        idp_metadata=scenario.idp_metadata,
        base_dir=config_path.parent,
        extras=extras,
        scenario_name=scenario.name,
    )


def _print_usage(
    running: RunningServer,
    host: str,
    config_path: Path | None,
    provisioned: ProvisionedWorld | None,
    *,
    allow_sha1: bool = False,
) -> None:
    url = running.url
    lines = [f"strict STS + IAM (moto) listening on {url}"]
    if not is_loopback(host):
        lines.append(f"  bound to {host}: reachable from other machines (--allow-remote)")
    if allow_sha1:
        lines.append("  SHA-1 signatures and digests accepted (--allow-sha1)")
    if provisioned is not None:
        lines.append(f"provisioned from {config_path}:")
        lines += [f"  saml-provider {arn}" for arn in provisioned.saml_providers]
        lines += [f"  role          {arn}" for arn in provisioned.roles]
    lines += [
        "use it:",
        f"  aws --endpoint-url {url} sts assume-role-with-saml --role-arn ROLE_ARN "
        "--principal-arn PROVIDER_ARN --saml-assertion file://response.b64",
        f"  export AWS_ENDPOINT_URL_STS={url} AWS_ENDPOINT_URL_IAM={url}"
        "  # boto3 and the AWS CLI then need no --endpoint-url",
    ]
    if config_path is not None:
        lines.append(
            f"  fedharness idp assertion --config {config_path} --user NAME "
            "--role ROLE_ARN > response.b64"
        )
    lines += [
        f"accounts: IAM calls land in {DEFAULT_ACCOUNT} unless they name another, e.g.",
        f"  aws --endpoint-url {url}/_account/111111111111 iam list-roles",
        "  boto3: send the header x-moto-account-id: 111111111111 "
        "(sp_fixtures.aws.iam_view.pin_moto_account)",
        "  calls signed with credentials from assume-role-with-saml land in the role's account",
        "  IAM calls need some credentials (any: moto checks no signature), e.g. "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        "Ctrl-C stops the server.",
    ]
    pinned = os.environ.get("MOTO_ACCOUNT_ID")
    click.echo("\n".join(lines))
    sys.stdout.flush()
    if pinned:
        err_console.print(
            f"[bold yellow]warning:[/] MOTO_ACCOUNT_ID={pinned} is set: every "
            "request lands in that account, whatever it names"
        )


if __name__ == "__main__":  # pragma: no cover
    sts(prog_name="fedharness sts")
