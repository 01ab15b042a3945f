"""Call a WSGI app (moto's server) and hold its whole answer, so a layer can read it first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Answer = tuple[str, list[tuple[str, str]], bytes]
"""Status line, headers and the joined body."""


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> Answer | None:
    """Run ``environ`` through ``app``; return its answer, or None if it never started one.

    The app's iterable is always closed, as WSGI requires; exceptions from the app propagate.
    """
    chunks: list[bytes] = []
    captured: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        captured.append((status, list(headers)))
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not captured:
        return None
    status, headers = captured[-1]
    return status, headers, b"".join(chunks)
