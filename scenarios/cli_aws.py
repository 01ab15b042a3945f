"""``fedharness aws apply|destroy``: put a scenario's AWS world into a live account, take it out.

Registered by ``scenarios.cli`` with ``main.add_command(aws)``. ``--endpoint-url`` points both
IAM and STS elsewhere (a moto server in tests); live mode's guards apply there too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from cryptography.hazmat.primitives import hashes
from pydantic import BaseModel, ConfigDict, create_model
from rich.console import Console
from rich.markup import escape

from scenarios.cli_common import (
    answered_unparseably,
    check_endpoint_answers,
    check_endpoint_url,
    err_console,
    fail,
    load_provider,
    reports_bad_input,
)
from sp_fixtures.aws.account import AccountError, AwsWorld

P = ParamSpec("P")
R = TypeVar("R")

EMPTY_FILE = "the file is empty; a scenario needs at least 'name' and 'idp'"
"""What ``fedharness run`` (scenarios.loader) says of an empty file, word for word."""


def reports_aws_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn AccountError and botocore errors into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            from sp_fixtures.aws.provision import BOTOCORE_ERRORS

            endpoint_url = kwargs.get("endpoint_url")
            if isinstance(endpoint_url, str) and answered_unparseably(exc):
                _check_endpoint(endpoint_url)
                fail(f"{endpoint_url} sent an answer that is not AWS's XML")
            if isinstance(exc, AccountError):
                fail(exc.message)
            if isinstance(exc, BOTOCORE_ERRORS):
                fail(str(exc))
            raise

    return wrapper


def aws_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the scenario FILE argument and the AWS connection options."""
    for decorator in reversed(
        (
            click.argument(
                "scenario_path", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False)
            ),
            click.option("--profile", help="AWS profile (default: the usual boto3 lookup)."),
            click.option("--region", help="AWS region for STS (IAM is global; default us-east-1)."),
            click.option(
                "--endpoint-url", help="Send IAM and STS calls here (e.g. a moto server)."
            ),
        )
    ):
        func = decorator(func)
    return func


@click.group("aws")
def aws() -> None:
    """Provision a scenario's SAML providers and roles in a live (sandbox!) AWS account."""


@aws.command("apply")
@aws_options
@reports_bad_input
@reports_aws_errors
def aws_apply(
    scenario_path: Path, profile: str | None, region: str | None, endpoint_url: str | None
) -> None:
    """Create or update the scenario's providers and roles in the credentials' account."""
    from idp.yamlfile import load_yaml
    from sp_fixtures.aws.account import SampleKeyRefusedError
    from sp_fixtures.aws.live import apply

    check_endpoint_url(endpoint_url)
    name, world = load_world(scenario_path)
    provider = load_provider(scenario_path)
    _check_endpoint(endpoint_url)
    keys = [provider.current_key, *([provider.next_key] if provider.next_key else [])]
    try:
        result = apply(
            world,
            _session(profile, region),
            scenario_name=name,
            idp_metadata=provider.metadata(),
            base_dir=scenario_path.parent,
            signing_cert_fingerprints=[
                k.certificate.fingerprint(hashes.SHA256()).hex() for k in keys
            ],
            endpoint_url=endpoint_url,
        )
    except SampleKeyRefusedError as exc:  # point at the signing settings that name the key
        line = load_yaml(scenario_path).line_of(("idp", "signing"))
        fail(f"{scenario_path}:{line}: idp.signing: {exc}" if line else f"{scenario_path}: {exc}")
    out = _console()
    out.print(f"account {result.account_id}, scenario {escape(name)}")
    for arn in result.created:
        out.print(f"  [green]created[/] {escape(arn)}")
    for arn in result.updated:
        out.print(f"  [cyan]updated[/] {escape(arn)}")
    for account_id in result.skipped_accounts:
        out.print(f"  [dim]skipped account {account_id}: the credentials are for another[/]")
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}")


@aws.command("destroy")
@aws_options
@reports_bad_input
@reports_aws_errors
def aws_destroy(
    scenario_path: Path, profile: str | None, region: str | None, endpoint_url: str | None
) -> None:
    """Remove what `aws apply` made for this scenario (only resources tagged as its own)."""
    from sp_fixtures.aws.live import destroy

    check_endpoint_url(endpoint_url)
    name, world = load_world(scenario_path)
    _check_endpoint(endpoint_url)
    result = destroy(
        world, _session(profile, region), scenario_name=name, endpoint_url=endpoint_url
    )
    out = _console()
    out.print(f"account {result.account_id}, scenario {escape(name)}")
    for arn in result.removed:
        out.print(f"  [red]removed[/] {escape(arn)}")
    for kept in result.kept:
        out.print(f"  [yellow]kept[/] {escape(kept.arn)}: {escape(kept.reason)}")
    if not result.removed and not result.kept:
        out.print("  nothing to remove")


def load_world(scenario_path: Path) -> tuple[str, AwsWorld]:
    """Return a scenario's name (its ``name:``, else the file stem) and its ``aws:`` world.

    An empty file and an unknown top-level key are refused in the words of ``fedharness run``.
    """
    from idp.yamlfile import SchemaError, load_yaml, validate

    loaded = load_yaml(scenario_path)
    if loaded.data is None:
        raise SchemaError(scenario_path, 1, EMPTY_FILE)
    validate(_scenario_sections(), loaded)
    world = validate(AwsWorld, loaded, at=("aws",))
    name = loaded.data.get("name") if isinstance(loaded.data, dict) else None
    return (name if isinstance(name, str) and name else scenario_path.stem), world


@cache
def _scenario_sections() -> type[BaseModel]:
    """Return a model of a scenario's top level that accepts any value under a known key."""
    from scenarios.model import Scenario

    fields: dict[str, Any] = {name: (object, None) for name in Scenario.model_fields}
    return create_model("ScenarioSections", __config__=ConfigDict(extra="forbid"), **fields)


def _check_endpoint(endpoint_url: str | None) -> None:
    if endpoint_url is not None:
        check_endpoint_answers(
            endpoint_url, expected="AWS IAM and STS", hint="is it a moto server or an AWS proxy?"
        )


def _session(profile: str | None, region: str | None) -> Any:
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)
