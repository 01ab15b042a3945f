"""The ``fedharness`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scenarios.cli_attack import attack
from scenarios.cli_aws import aws
from scenarios.cli_common import (
    answered_unparseably,
    check_endpoint_answers,
    check_endpoint_url,
    check_writable,
    fail,
    load_provider,
    refuse_to_overwrite,
    reports_bad_input,
)
from scenarios.cli_demo import demo
from scenarios.cli_idp_serve import serve as idp_serve
from scenarios.cli_inspect import inspect_command
from scenarios.cli_scenarios import register as register_scenario_commands
from scenarios.cli_sts import sts

if TYPE_CHECKING:
    from collections.abc import Iterator

    import yaml
    from rich.console import Console

    from scenarios.exchange import AwsMode
    from scenarios.loader import LoadedScenario
    from scenarios.runner import ScenarioResult

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="IdP or scenario file (YAML).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fedharness")
def main() -> None:
    """Prove that your IdP maps directory groups to the AWS roles you intend."""


@main.group()
def idp() -> None:
    """The mock identity provider."""


@idp.command("metadata")
@config_option
@reports_bad_input
def idp_metadata(config_path: Path) -> None:
    """Print the IdP metadata, ready for `aws iam create-saml-provider`."""
    provider = load_provider(config_path)
    click.echo(provider.metadata().decode("utf-8"), nl=False)


@idp.command("assertion")
@config_option
@click.option("--user", "user_name", required=True, help="User name in the directory.")
@click.option("--role", "role_arn", help="Send only this role's pair in the Role attribute.")
@click.option("--recipient", help="Recipient/Destination URL (default: the SP's ACS).")
@click.option("--sp", default="aws", show_default=True, help="Registered service provider.")
@click.option("--xml", "as_xml", is_flag=True, help="Print the XML instead of base64.")
@reports_bad_input
def idp_assertion(
    config_path: Path,
    user_name: str,
    role_arn: str | None,
    recipient: str | None,
    sp: str,
    as_xml: bool,
) -> None:
    """Print a signed SAMLResponse (base64) for a user, ready for `aws sts
    assume-role-with-saml --saml-assertion`."""
    from idp.directory import DirectoryError, UnknownUserError
    from idp.errors import IdpError
    from idp.yamlfile import load_yaml

    provider = load_provider(config_path)
    try:
        issued = provider.issue(user_name, sp=sp, role_arn=role_arn, recipient=recipient)
    except UnknownUserError as exc:  # at the line of the directory's users (or its file)
        line = load_yaml(config_path).line_of(("directory", "users"))
        fail(f"{config_path}:{line}: {exc}" if line is not None else f"{config_path}: {exc}")
    except (DirectoryError, IdpError) as exc:  # --sp, --role: name the file they are not in
        fail(f"{config_path}: {exc}")
    click.echo(issued.xml.decode("utf-8") if as_xml else issued.saml_response)


SCENARIO_ONLY_KEYS = frozenset({"expect", "aws", "sts"})
"""Top-level keys that only a scenario file has: an IdP file has ``idp`` and ``directory``, a
directory file ``users`` and ``groups``; other YAML (docker-compose, CI workflows) has none."""


def _scenario_files(paths: tuple[Path, ...]) -> list[Path]:
    """Return the files to run: each named file, and the scenarios found in each named folder.

    A YAML file in a folder that is not a scenario (a directory file a scenario names, a
    docker-compose.yml …) is skipped and listed in one line on stderr.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*.y*ml")
                if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
            )
            scenarios: list[Path] = []
            others: list[Path] = []
            for file in found:
                (scenarios if looks_like_scenario(file) else others).append(file)
            if not scenarios:
                fail(
                    f"no scenario files found in {path}"
                    + (f" ({_skipped_summary(others)})" if others else "")
                )
            files.extend(scenarios)
            skipped.extend(others)
        elif path.exists():
            files.append(path)  # named on the command line: always a scenario
        else:
            fail(f"{path}: no such file or folder")
    if skipped:
        click.echo(_skipped_summary(skipped), err=True)
    return files


def _skipped_summary(skipped: list[Path]) -> str:
    what = (
        "YAML file that is not a scenario"
        if len(skipped) == 1
        else "YAML files that are not scenarios"
    )
    return f"skipped {len(skipped)} {what}: " + ", ".join(map(str, skipped))


def looks_like_scenario(path: Path) -> bool:
    """Tell whether a YAML file found in a folder is meant as a scenario: its top level is a
    mapping with a key of SCENARIO_ONLY_KEYS, or with both ``name`` and ``idp``.

    Only parser events are read, and only up to the first such key (``name`` and ``idp`` open a
    scenario), so a run does not parse its scenarios twice. A file that cannot be read or parsed
    counts as a scenario, and so does a file any of whose documents looks like one (a scenario
    file holds one document: loading it then reports the others at their line); a file of other
    documents only, such as Kubernetes manifests, does not.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML has it
    try:
        with path.open(encoding="utf-8-sig") as stream:
            events = yaml.parse(stream, Loader=loader)
            while True:  # each document in turn: a scenario may follow an empty first one
                seen: set[str] = set()
                for key in _top_level_keys(events):
                    seen.add(key)
                    # "<<" merges keys from elsewhere in the file: only loading it can tell.
                    if key in SCENARIO_ONLY_KEYS or key == "<<" or {"name", "idp"} <= seen:
                        return True
                if not _another_document_follows(events):
                    return False
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True


def _top_level_keys(events: Iterator[yaml.Event]) -> Iterator[str]:
    """Yield the plain keys of the first document's top-level mapping; nothing when its top
    level is not a mapping."""
    import yaml

    for event in events:
        if isinstance(event, yaml.MappingStartEvent):
            break
        if not isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
            return
    depth, at_key = 0, True
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            if depth == 0:
                return  # the end of the top-level mapping
            depth -= 1
            if depth:
                continue
        elif depth:
            continue
        elif at_key and isinstance(event, yaml.ScalarEvent):
            yield event.value
        at_key = not at_key  # a key or value at the top level is complete


def _another_document_follows(events: Iterator[yaml.Event]) -> bool:
    """Read the rest of the first document's events and tell whether a second document follows."""
    import yaml

    for event in events:
        if isinstance(event, yaml.DocumentEndEvent):
            return isinstance(next(events, None), yaml.DocumentStartEvent)
    return False


@main.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--aws",
    "mode",
    type=click.Choice(["moto", "server", "live"]),
    default="moto",
    show_default=True,
    help="Where to exchange assertions.",
)
@click.option("--endpoint-url", help="STS/IAM endpoint (with --aws server, or a live proxy).")
@click.option("--profile", help="AWS profile (with --aws live).")
@click.option("--region", help="AWS region (with --aws live).")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a JUnit XML report.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a JSON report.",
)
@click.option(
    "-j",
    "--jobs",
    default="1",
    show_default=True,
    help="Worker processes per scenario (a number or 'auto'; moto and server modes).",
)
@reports_bad_input
def run(
    paths: tuple[Path, ...],
    mode: AwsMode,
    endpoint_url: str | None,
    profile: str | None,
    region: str | None,
    junit_path: Path | None,
    json_path: Path | None,
    jobs: str,
) -> None:
    """Run scenario files (or folders of them): exit 0 when every expectation holds,
    1 when one fails, 2 on bad input."""
    from rich.console import Console

    from scenarios.loader import load_scenario
    from scenarios.report import print_report, write_json, write_junit

    if mode == "server" and endpoint_url is None:
        fail("--aws server needs --endpoint-url (the URL `fedharness sts serve` prints)")
    check_endpoint_url(endpoint_url)
    check_writable(junit_path, "--junit")
    check_writable(json_path, "--json")
    workers = _jobs(jobs)
    loaded = [load_scenario(path) for path in _scenario_files(paths)]
    if mode == "server" and endpoint_url is not None:
        check_endpoint_answers(endpoint_url, expected="the strict STS", hint=_STS_HINT)
    console = Console()
    try:
        results = _run_all(loaded, console, mode, endpoint_url, profile, region, workers)
    except Exception as exc:
        if mode != "server" or endpoint_url is None or not answered_unparseably(exc):
            raise
        check_endpoint_answers(endpoint_url, expected="the strict STS", hint=_STS_HINT)
        fail(f"{endpoint_url} sent an answer that is not AWS's XML; {_STS_HINT}")
    print_report(console, results)
    for option, path, write in (
        ("--junit", junit_path, write_junit),
        ("--json", json_path, write_json),
    ):
        if path is None:
            continue
        try:
            write(path, results)
        except OSError as exc:
            fail(f"{option} {path}: cannot write: {exc.strerror or exc}")
    sys.exit(0 if all(r.passed for r in results) else 1)


_STS_HINT = "is it 'fedharness sts serve'?"


def _run_all(
    loaded: list[LoadedScenario],
    console: Console,
    mode: AwsMode,
    endpoint_url: str | None,
    profile: str | None,
    region: str | None,
    workers: int,
) -> list[ScenarioResult]:
    from rich.progress import Progress

    from scenarios.exchange import open_exchanger
    from scenarios.loader import check_runnable
    from scenarios.report import writes_to_terminal
    from scenarios.runner import run_scenario

    results: list[ScenarioResult] = []
    # Every directory user is run, covered by an expectation or not.
    total = sum(len(s.directory.users()) for s in loaded)
    # A progress bar only on a real terminal: in a CI log (even with FORCE_COLOR) its cursor
    # codes would be noise between the report's lines.
    quiet = total < 50 or not writes_to_terminal(console)
    with Progress(console=console, transient=True, disable=quiet) as progress:
        task = progress.add_task("running", total=total)
        for scenario in loaded:
            users = len(scenario.directory.users())
            if workers > 1 and mode != "live" and users > 1:
                from scenarios.parallel import run_parallel

                results.append(
                    run_parallel(scenario, workers, mode=mode, endpoint_url=endpoint_url)
                )
                progress.advance(task, users)
                continue
            check_runnable(scenario)  # before a server is reconciled with it
            with open_exchanger(
                scenario, mode, endpoint_url=endpoint_url, profile=profile, region=region
            ) as exchanger:
                results.append(
                    run_scenario(scenario, exchanger, progress=lambda _: progress.advance(task))
                )
    return results


def _jobs(value: str) -> int:
    if value == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if not value.isdigit() or int(value) < 1:
        fail(f"--jobs must be a positive number or 'auto', not {value!r}")
    return int(value)


@main.group()
def certs() -> None:
    """Test-only signing certificates."""


@certs.command("generate")
@click.option(
    "--bits", type=click.Choice(["2048", "3072", "4096"]), default="2048", show_default=True
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("certs"),
    show_default=True,
    help="Folder to write into.",
)
@click.option(
    "--name",
    "stem",
    default="idp",
    show_default=True,
    help="File stem: writes NAME.key and NAME.crt.",
)
@click.option("--common-name", default="fedharness mock IdP", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def certs_generate(bits: str, out_dir: Path, stem: str, common_name: str, force: bool) -> None:
    """Write a self-signed certificate and its private key (for tests only)."""
    from idp.certs import common_name_problem, generate_self_signed, write_pair

    problem = common_name_problem(common_name)
    if problem is not None:
        fail(f"--common-name: {problem}")
    if not stem or stem in (".", "..") or "/" in stem or (os.altsep and os.altsep in stem):
        fail(
            f"--name {stem!r} must be a file stem: no '/', not '.' or '..' "
            "(--out chooses the folder)"
        )
    refuse_to_overwrite((out_dir / f"{stem}.key", out_dir / f"{stem}.crt"), force=force)
    try:
        key_path, cert_path = write_pair(
            generate_self_signed(common_name, bits=int(bits)), out_dir, stem
        )
    except OSError as exc:
        fail(f"--out {out_dir}: cannot write: {exc.strerror or exc}")
    click.echo(f"wrote {key_path} (private, mode 0600) and {cert_path}")


main.add_command(aws)
main.add_command(sts)
main.add_command(attack)
main.add_command(demo)
idp.add_command(idp_serve)
main.add_command(inspect_command)
register_scenario_commands(main)

if __name__ == "__main__":  # pragma: no cover
    main()
