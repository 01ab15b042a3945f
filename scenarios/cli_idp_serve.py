"""``fedharness idp serve``: the web IdP over HTTP, threaded or under gunicorn.

Registered by ``scenarios.cli`` with ``idp.add_command(serve)``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import click

from scenarios.cli_common import fail, is_loopback, reports_bad_input


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="IdP or scenario file (YAML).",
)
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
    "--workers",
    type=click.IntRange(1, 64),
    help="Serve with gunicorn and this many worker processes (default: one threaded process).",
)
@click.option(
    "--base-url",
    help="Public URL published in metadata (default: idp.base_url when "
    "the file sets it, else the address listened on).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host: anyone who reaches it can sign in as anyone.",
)
@reports_bad_input
def serve(
    config_path: Path,
    host: str,
    port: int,
    workers: int | None,
    base_url: str | None,
    allow_remote: bool,
) -> None:
    """Serve the mock IdP (metadata, SSO, login pages, JSON API, logout) until Ctrl-C."""
    from idp.app import WebConfig, bind, create_app, url_of

    if not is_loopback(host) and not allow_remote:
        fail(
            f"--host {host} is not a loopback address: anyone who reaches it could sign in as "
            "any user of the directory; add --allow-remote to listen there anyway"
        )
    if workers is not None and importlib.util.find_spec("gunicorn") is None:
        fail("--workers needs gunicorn: pip install gunicorn")
    shared_dir = Path(tempfile.mkdtemp(prefix="fedharness-idp-")) if workers else None
    owner = os.getpid()
    try:
        config = WebConfig.from_file(
            config_path, shared_state=shared_dir / "groups.json" if shared_dir else None
        )
        # On loopback only loopback names and the --base-url host are served (DNS rebinding);
        # --allow-remote means clients come by whatever name reaches this machine.
        config = dataclasses.replace(config, any_host=allow_remote)
        if base_url is None and "base_url" in config.provider.settings.model_fields_set:
            base_url = config.provider.settings.base_url
        try:
            listener = bind(host, port)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        url = url_of(listener)
        app = create_app(config.with_base_url(base_url or url))
        _print_usage(url, base_url or url, config, workers)
        if workers is None:
            _serve_threaded(app, host, listener)
        else:
            _serve_gunicorn(app, listener, workers)
    finally:
        if shared_dir is not None and os.getpid() == owner:  # gunicorn workers exit through here
            shutil.rmtree(shared_dir, ignore_errors=True)


def _serve_threaded(app: Any, host: str, listener: socket.socket) -> None:
    from werkzeug.serving import make_server

    try:
        server = make_server(
            host, listener.getsockname()[1], app, threaded=True, fd=listener.fileno()
        )
    finally:
        listener.close()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped")


def _serve_gunicorn(app: Any, listener: socket.socket, workers: int) -> None:
    from gunicorn.app.base import (  # type: ignore[import-untyped,unused-ignore]
        BaseApplication,
    )

    descriptor = listener.detach()  # gunicorn owns (and closes) the bound socket from here
    options = {
        "bind": [f"fd://{descriptor}"],
        "workers": workers,
        "worker_class": "sync",
        "preload_app": True,
        "timeout": 30,
        "graceful_timeout": 5,
        "keepalive": 2,
        "limit_request_line": 8190,  # Redirect-binding URLs with long RelayStates
        "loglevel": "warning",
        "accesslog": None,
    }

    class IdpServer(BaseApplication):  # type: ignore[misc]
        """gunicorn running the already-built app."""

        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return app

    IdpServer().run()


def _print_usage(url: str, public: str, config: Any, workers: int | None) -> None:
    how = (
        f"gunicorn, {workers} worker process{'es' if workers > 1 else ''}"
        if workers
        else ("one threaded process")
    )
    first_sp = next(iter(config.provider.settings.service_providers), "aws")
    first_user = next(iter(config.provider.directory.users()), None)
    example_user = first_user.name if first_user else "NAME"
    lines = [
        f"fedharness IdP listening on {url} ({how})",
        f"  metadata      {public}/metadata",
        f"  sign in       {public}/login   IdP-initiated: {public}/sso/{first_sp}?user="
        f"{example_user}",
        f"  SP-initiated  {public}/sso (HTTP-Redirect and HTTP-POST)",
        f"  logout        {public}/slo, {public}/logout",
        f"  JSON API      GET {public}/api/users, POST {public}/api/saml-response",
    ]
    if public != url:
        lines.append(f"  published as {public} (metadata and endpoint URLs)")
    lines.append("Ctrl-C stops the server.")
    click.echo("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    serve(prog_name="fedharness idp serve")
