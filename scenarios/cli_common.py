"""Pieces every ``fedharness`` command shares: one-line errors and exit statuses, and the checks
of files and URLs that must fail before a command does any work."""

from __future__ import annotations

import ipaddress
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from idp.provider import IdentityProvider

P = ParamSpec("P")
R = TypeVar("R")

EXIT_BAD_INPUT = 2
PROBE_TIMEOUT = 10.0
"""Seconds to wait for an endpoint's answer to the probe before a run."""
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


def _hint(error: Exception) -> str:
    """Return what to do about an AWS client error the message leaves to the reader, or ""."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    from sp_fixtures.aws.account import AwsCallError

    if isinstance(error, AwsCallError) and error.cause is not None:
        error = error.cause
    if isinstance(error, EndpointConnectionError):
        return " (is a server listening there? `fedharness sts serve` starts the strict STS)"
    if isinstance(error, NoCredentialsError):
        return " (live mode needs the sandbox account's credentials: AWS_PROFILE or AWS_* vars)"
    return ""


def reports_bad_input(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's bad-input errors into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _user_errors() as exc:
            fail(str(exc) + _hint(exc))

    return wrapper


def load_provider(path: Path) -> IdentityProvider:
    """Load the IdP of an IdP or scenario file, with inline ADFS rule errors at their line.

    ``IdentityProvider.from_file`` reports an inline rule by its place in the rules only; this
    places it in the file, as ``fedharness run`` does.
    """
    from idp.config import IdpFile
    from idp.directory import Directory
    from idp.errors import IdpError
    from idp.mapping.adfs_parser import ClaimRuleSyntaxError
    from idp.provider import IdentityProvider
    from idp.yamlfile import load_yaml, validate
    from scenarios.loader import claim_rule_error

    loaded = load_yaml(path)
    config = validate(IdpFile, loaded)
    directory = Directory.from_config(config.directory, path.parent)
    try:
        return IdentityProvider(config.idp, directory, base_dir=path.parent)
    except ClaimRuleSyntaxError as exc:
        raise claim_rule_error(loaded, path, exc) from None
    except IdpError as exc:
        raise IdpError(f"{path}: {exc.message}") from None


def refuse_to_overwrite(paths: Iterable[Path], *, force: bool) -> None:
    """Fail unless each path is absent (or, with ``force``, a file that may be replaced)."""
    for path in paths:
        if path.is_dir():
            fail(f"{path} is a folder; it cannot be replaced by a file")
        if (path.exists() or path.is_symlink()) and not force:
            fail(f"{path} exists; use --force to replace it")


def check_writable(path: Path | None, option: str) -> None:
    """Fail now, before a long run, when the report file of ``option`` cannot be written."""
    if path is None:
        return
    folder = path.parent
    if path.is_dir():
        fail(f"{option} {path}: is a folder, not a file")
    if not folder.is_dir():
        fail(f"{option} {path}: no such folder: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"{option} {path}: not writable (permission denied)")


def check_endpoint_url(url: str | None, option: str = "--endpoint-url") -> None:
    """Fail unless ``url`` is an http(s) URL with a host botocore accepts."""
    if url is None:
        return
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url))
    ):
        fail(
            f"{option} {url!r} is not an http:// or https:// URL with a host "
            "(e.g. http://127.0.0.1:5000)"
        )


def describe_endpoint(url: str) -> tuple[bool | None, str]:
    """POST an STS GetCallerIdentity to ``url``; return whether AWS's XML came back (None: no
    answer at all) and what did: ``HTTP 404 text/html``, or why nothing came back.

    The request carries a made-up SigV4 header so that a moto server routes it to STS; an AWS
    endpoint answers with an ``ErrorResponse``, which counts as answering like AWS.
    """
    request = urllib.request.Request(  # noqa: S310 - check_endpoint_url allowed http(s) only
        url,
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": "AWS4-HMAC-SHA256 Credential=fedharness/20260101/us-east-1/sts/"
            "aws4_request, SignedHeaders=host, Signature=0",
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as answer:  # noqa: S310
            status, headers, body = answer.status, answer.headers, answer.read(65536)
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
        body = exc.read(65536)
        exc.close()
    except urllib.error.URLError as exc:
        return None, f"no answer: {getattr(exc.reason, 'strerror', None) or exc.reason}"
    except (OSError, ValueError) as exc:
        return None, f"no answer: {getattr(exc, 'strerror', None) or exc}"
    content_type = (headers.get("Content-Type") or "no Content-Type").split(";")[0].strip()
    like_aws = "xml" in content_type and (
        b"<GetCallerIdentityResponse" in body or b"<ErrorResponse" in body
    )
    return like_aws, f"HTTP {status} {content_type}"


def answered_unparseably(exc: BaseException) -> bool:
    """Tell whether ``exc`` comes from an HTTP answer botocore could not parse (an HTML page),
    possibly wrapped in one of the project's errors."""
    from botocore.parsers import ResponseParserError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ResponseParserError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def check_endpoint_answers(url: str, *, expected: str, hint: str) -> None:
    """Fail when something answers at ``url``, but not as AWS does; ``expected`` names what
    should be there. Nothing answering is left to botocore, which says so in one line."""
    like_aws, answer = describe_endpoint(url)
    if like_aws is False:
        fail(f"{url} does not answer like {expected} ({answer}); {hint}")


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
