"""``fedharness demo``: the IdP, the emulated AWS sign-in and the strict STS, for a browser.

Registered by ``scenarios.cli`` with ``main.add_command(demo)``; also runnable on its own as
``python -m scenarios.cli_demo``.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from scenarios.cli_aws import reports_aws_errors
from scenarios.cli_common import fail, reports_bad_input
from scenarios.demo import DEFAULT_SCENARIO


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_SCENARIO,
    show_default="the bundled quickstart example",
    help="Scenario file: its IdP, directory and AWS world.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the IdP (the page to open); a free one by default.",
)
@click.option(
    "--signin-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the emulated AWS sign-in; a free one by default.",
)
@click.option(
    "--sts-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the strict STS + IAM endpoint; a free one by default.",
)
@click.option(
    "--adfs-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the IdP's ADFS-compatible mode (TLS, for aws-adfs); a free one by default.",
)
@reports_bad_input
@reports_aws_errors
def demo(config_path: Path, port: int, signin_port: int, sts_port: int, adfs_port: int) -> None:
    """Serve the whole federation on 127.0.0.1 and print the URL to open, until Ctrl-C."""
    from scenarios.demo import start_demo

    try:
        # One access-log line per request would bury the banner (provisioning alone makes a
        # few dozen); errors still show.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        running = start_demo(
            config_path, port=port, signin_port=signin_port, sts_port=sts_port, adfs_port=adfs_port
        )
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1: {exc.strerror or exc}")
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    try:
        click.echo(running.banner())
        sys.stdout.flush()
        servers = (running.idp, running.adfs, running.signin, running.sts)
        while all(server.thread.is_alive() for server in servers):
            running.idp.thread.join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
    click.echo("stopped")


def _interrupt(signum: int, frame: FrameType | None) -> Any:
    """Make SIGTERM stop the demo like Ctrl-C."""
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    demo(prog_name="fedharness demo")
