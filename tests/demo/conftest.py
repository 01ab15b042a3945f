"""The demo's servers, started once per test module over a fresh moto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scenarios.demo import RunningDemo, start_demo


@pytest.fixture(scope="module")
def demo() -> Iterator[RunningDemo]:
    from moto.moto_api import _internal

    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"):
            patch.delenv(key, raising=False)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        _internal.moto_api_backend.reset()
        running = start_demo()
        try:
            yield running
        finally:
            running.stop()
            _internal.moto_api_backend.reset()
