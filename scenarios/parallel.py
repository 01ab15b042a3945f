"""Spread one scenario's users over several processes, each with its own moto world."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scenarios.exchange import AwsMode, open_exchanger
from scenarios.loader import LoadedScenario, check_runnable, load_scenario
from scenarios.runner import ScenarioResult, UserResult, run_users, scenario_result

_inherited: dict[str, LoadedScenario] = {}
"""Scenarios the parent loaded before forking; workers use them instead of re-reading files."""


def _run_slice(
    path: str, users: list[str], mode: AwsMode, endpoint_url: str | None
) -> list[UserResult]:
    loaded = _inherited.get(path) or load_scenario(Path(path))
    with open_exchanger(loaded, mode, endpoint_url=endpoint_url) as exchanger:
        return run_users(loaded, exchanger, users)


def run_parallel(
    loaded: LoadedScenario, jobs: int, *, mode: AwsMode = "moto", endpoint_url: str | None = None
) -> ScenarioResult:
    """Run ``loaded`` with ``jobs`` worker processes (users dealt round-robin); same result shape
    and user order as a serial run: every directory user, covered or not."""
    check_runnable(loaded)
    users = [u.name for u in loaded.directory.users()]
    jobs = max(1, min(jobs, len(users)))
    slices = [users[i::jobs] for i in range(jobs)]
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    _inherited[str(loaded.path)] = loaded
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_run_slice, str(loaded.path), part, mode, endpoint_url)
                for part in slices
            ]
            by_user = {r.user: r for future in futures for r in future.result()}
    finally:
        _inherited.pop(str(loaded.path), None)
    return scenario_result(loaded, mode, (by_user[u] for u in users))
