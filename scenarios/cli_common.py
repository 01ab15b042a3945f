"""Pieces every ``fedharness`` command shares: one-line errors and exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

from rich.console import Console
from rich.markup import escape

P = ParamSpec("P")
R = TypeVar("R")

EXIT_BAD_INPUT = 2
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` on one line of stderr and exit with ``status``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    sys.exit(status)


def _user_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError

    from idp.directory import DirectoryError
    from idp.errors import IdpError
    from idp.yamlfile import ConfigError
    from sp_fixtures.aws.account import AccountError
    from sp_fixtures.aws.live_sts import LiveStsError

    # BotoCoreError: an endpoint that cannot be reached, missing credentials for live mode …
    return (ConfigError, DirectoryError, IdpError, AccountError, LiveStsError, BotoCoreError)


def reports_bad_input(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's bad-input errors into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _user_errors() as exc:
            fail(str(exc))

    return wrapper
