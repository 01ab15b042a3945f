"""``fedharness attack``: list the catalogue, make one tampered response, or aim them all at an SP.

Register in ``scenarios.cli`` with ``main.add_command(attack)``. Without ``--config``, ``run`` and
``metadata`` use a built-in IdP whose key pair is created on first use in ``--idp-dir``; give
your SP its metadata (``fedharness attack metadata``) once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scenarios.cli_common import (
    check_writable,
    err_console,
    fail,
    load_provider,
    refuse_to_overwrite,
    reports_bad_input,
)

if TYPE_CHECKING:
    from idp.provider import IdentityProvider
    from sp_fixtures.attacks.catalogue import Attack
    from sp_fixtures.attacks.generator import Target

BUILTIN_IDP_FILE = "idp.yaml"
BUILTIN_IDP = """\
# The built-in IdP of `fedharness attack run` (no --config). Test use only: its key is local.
# Edit the users freely; give your SP the metadata `fedharness attack metadata` prints.
idp:
  entity_id: urn:fedharness:attack-idp
  signing: {key: idp.key, cert: idp.crt}
  name_id: {source: email, format: email}
  attributes: {role_session_name: null}
directory:
  users:
    alice: {email: alice@example.com}
"""


def _default_idp_dir() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "fedharness" / "attack-idp"


def _family_names() -> list[str]:
    from sp_fixtures.attacks.catalogue import Family

    return [family.value for family in Family]


def _check_families(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """Validate --family lazily, so that loading the CLI does not load the catalogue."""
    known = _family_names()
    for value in values:
        if value not in known:
            raise click.BadParameter(f"{value!r} is not one of {', '.join(known)}")
    return values


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="IdP or scenario file (YAML); default: the built-in attack IdP.",
)
idp_dir_option = click.option(
    "--idp-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the built-in IdP (default: $XDG_CONFIG_HOME/fedharness/attack-idp).",
)
force_option = click.option(
    "--force",
    is_flag=True,
    help="Creating the built-in IdP, replace an idp.key and idp.crt already in --idp-dir.",
)
target_options = [
    click.option(
        "--sp",
        default="aws",
        show_default=True,
        help="Service provider registered in the IdP settings.",
    ),
    click.option("--role", "role_arn", help="Keep only this role's pair in the genuine Role."),
    click.option("--recipient", help="Recipient and Destination (default: the SP's ACS)."),
    click.option(
        "--audience",
        "audiences",
        multiple=True,
        help="Audience value (repeatable; default: the SP's).",
    ),
    click.option("--evil-name-id", help="NameID the attacks try to log in as."),
    click.option(
        "--evil-role",
        help="Role ARN (or role,provider pair) the attacks try to obtain; pick one "
        "that exists and trusts the provider, so an acceptance shows.",
    ),
]


def _with_target_options(function: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(target_options):
        function = option(function)
    return function


@click.group("attack", context_settings={"help_option_names": ["-h", "--help"]})
def attack() -> None:
    """Tampered SAML responses (wrapping, stripping, XXE, replay, …) aimed at an SP."""


@attack.command("list")
@click.option(
    "--family",
    "families",
    multiple=True,
    callback=_check_families,
    help="Only these families (repeatable).",
)
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def attack_list(families: tuple[str, ...], output: str) -> None:
    """List the catalogue: id, family, what is signed, and what must refuse it (sources and
    details with --format json)."""
    from sp_fixtures.attacks.catalogue import load_catalogue

    attacks = [a for a in load_catalogue() if not families or a.family.value in families]
    if output == "json":
        click.echo(json.dumps([_attack_json(a) for a in attacks], indent=2))
        return
    width = max(len(a.id) for a in attacks) if attacks else 2
    click.echo(f"{'id':<{width}}  {'family':<13}  {'signed':<9}  {'verifier':<21}  strict STS")
    for item in attacks:
        expect = item.expect
        sts = (
            f"{expect.aws_error} ({expect.sts_rule})"
            if expect.sts_rule
            else f"accepts by default (refusal needs {expect.requires})"
        )
        verifier = expect.verifier.value if expect.verifier else "-"
        click.echo(
            f"{item.id:<{width}}  {item.family.value:<13}  {item.layout:<9}  {verifier:<21}  {sts}"
        )
    click.echo(f"{len(attacks)} attacks")


def _attack_json(item: Attack) -> dict[str, object]:
    expect = item.expect
    return {
        "id": item.id,
        "family": item.family.value,
        "form": item.form,
        "changes": item.changes,
        "layout": item.layout,
        "evil": item.evil,
        "expect": {
            "verifier": expect.verifier.value if expect.verifier else None,
            "sts_rule": expect.sts_rule,
            "aws_error": expect.aws_error,
            "requires": expect.requires,
            "safe_if": expect.safe_if,
        },
        "sources": list(item.sources),
    }


@attack.command("make")
@click.argument("attack_id")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="IdP or scenario file.",
)
@click.option("--user", "user_name", required=True, help="User name in the directory.")
@_with_target_options
@click.option("--xml", "as_xml", is_flag=True, help="Print the XML instead of base64.")
@reports_bad_input
def attack_make(
    attack_id: str,
    config_path: Path,
    user_name: str,
    sp: str,
    role_arn: str | None,
    recipient: str | None,
    audiences: tuple[str, ...],
    evil_name_id: str | None,
    evil_role: str | None,
    as_xml: bool,
) -> None:
    """Print the tampered SAMLResponse of one attack (or `control`), base64 by default.

    A replay prints its priming response first, one per line: send them in order.
    """
    from sp_fixtures.attacks.generator import AttackGenerator, GeneratorError

    target = _target(user_name, sp, role_arn, recipient, audiences, evil_name_id, evil_role)
    provider = load_provider(config_path)
    try:
        generator = AttackGenerator(provider, target)
        built = generator.build(attack_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except GeneratorError as exc:
        fail(str(exc))
    if len(built.documents) > 1:
        err_console.print(
            f"{attack_id}: {len(built.documents)} responses, send them in order; "
            "the last one is the attack"
        )
    for document, encoded in zip(built.documents, built.saml_responses, strict=True):
        click.echo(document.decode("utf-8", "replace") if as_xml else encoded)


@attack.command("run")
@click.option("--target", "url", required=True, help="The SP's ACS URL (loopback).")
@config_option
@click.option("--user", "user_name", help="User in the directory (built-in IdP: alice).")
@_with_target_options
@click.option("--accept-status", type=int, help="An accepted login answers this status.")
@click.option("--accept-text", help="An accepted login's page contains this text.")
@click.option("--accept-cookie", help="An accepted login sets this cookie.")
@click.option("--only", "only", multiple=True, help="Only these attack ids (repeatable).")
@click.option(
    "--family",
    "families",
    multiple=True,
    callback=_check_families,
    help="Only these families (repeatable).",
)
@click.option("--relay-state", help="RelayState to post with each response.")
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback target (only an SP you own and may attack).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the report as JSON.",
)
@idp_dir_option
@force_option
@reports_bad_input
def attack_run(
    url: str,
    config_path: Path | None,
    user_name: str | None,
    sp: str,
    role_arn: str | None,
    recipient: str | None,
    audiences: tuple[str, ...],
    evil_name_id: str | None,
    evil_role: str | None,
    accept_status: int | None,
    accept_text: str | None,
    accept_cookie: str | None,
    only: tuple[str, ...],
    families: tuple[str, ...],
    relay_state: str | None,
    timeout: float,
    allow_remote: bool,
    json_path: Path | None,
    idp_dir: Path | None,
    force: bool,
) -> None:
    """POST the control and every attack to an ACS; exit 0 when all are refused, 1 when one
    is accepted, 2 when the control is refused (inconclusive) or on bad input."""
    from sp_fixtures.attacks.catalogue import attack_by_id, load_catalogue
    from sp_fixtures.attacks.generator import AttackGenerator, GeneratorError
    from sp_fixtures.attacks.runner import (
        AcceptanceRule,
        TargetError,
        canary,
        check_target,
        format_report,
        run_against_sp,
    )

    check_writable(json_path, "--json")
    try:
        check_target(url, allow_remote=allow_remote)
        rule = AcceptanceRule(accept_status, accept_text, accept_cookie)
        attacks = (
            [attack_by_id(item) for item in only]
            if only
            else [a for a in load_catalogue() if not families or a.family.value in families]
        )
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    except KeyError as exc:
        fail(str(exc.args[0]))
    provider = _provider(config_path, idp_dir, force=force)
    target = _target(
        user_name or "alice",
        sp,
        role_arn,
        recipient or url,
        audiences or ((url,) if config_path is None else ()),
        evil_name_id,
        evil_role,
    )
    with canary() as listener:
        try:
            generator = AttackGenerator(provider, target, canary_url=listener.url)
        except GeneratorError as exc:
            fail(str(exc))
        report = run_against_sp(
            generator,
            url,
            rule,
            attacks=attacks,
            relay_state=relay_state,
            timeout=timeout,
            allow_remote=allow_remote,
            listener=listener,
        )
    click.echo(format_report(report))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"--json {json_path}: cannot write: {exc.strerror or exc}")
    sys.exit(report.exit_status)


@attack.command("metadata")
@config_option
@idp_dir_option
@force_option
@reports_bad_input
def attack_metadata(config_path: Path | None, idp_dir: Path | None, force: bool) -> None:
    """Print the metadata of the IdP that signs the attacks (install it in your SP)."""
    click.echo(_provider(config_path, idp_dir, force=force).metadata().decode("utf-8"), nl=False)


def _target(
    user: str,
    sp: str,
    role_arn: str | None,
    recipient: str | None,
    audiences: tuple[str, ...],
    evil_name_id: str | None,
    evil_role: str | None,
) -> Target:
    from sp_fixtures.attacks.generator import Target

    return Target(
        user=user,
        sp=sp,
        role_arn=role_arn,
        recipient=recipient,
        audiences=audiences or None,
        evil_name_id=evil_name_id,
        evil_role=evil_role,
    )


def _provider(
    config_path: Path | None, idp_dir: Path | None, *, force: bool = False
) -> IdentityProvider:
    """Load the IdP of ``--config``, or the built-in one (created on first use).

    Creating it never replaces a key pair already in the folder unless ``force`` is set: the
    SP may trust that certificate.
    """
    if config_path is not None:
        return load_provider(config_path)
    folder = idp_dir or _default_idp_dir()
    config = folder / BUILTIN_IDP_FILE
    if not (config.exists() or config.is_symlink()):
        from idp.certs import generate_self_signed, write_pair

        refuse_to_overwrite((folder / "idp.key", folder / "idp.crt"), force=force)
        try:
            write_pair(generate_self_signed("fedharness attack IdP (test only)"), folder, "idp")
            config.write_text(BUILTIN_IDP, encoding="utf-8")
        except OSError as exc:
            fail(f"{folder}: cannot create the built-in attack IdP: {exc.strerror or exc}")
        err_console.print(
            f"created the built-in attack IdP in {folder}; give your SP its "
            f"metadata: fedharness attack metadata --idp-dir {folder}"
        )
    return load_provider(config)
