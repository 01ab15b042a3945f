"""Spread one scenario's users over several processes, each with its own moto world."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scenarios.exchange import AwsMode, open_exchanger
from scenarios.loader import LoadedScenario, load_scenario
from scenarios.runner import ScenarioResult, UserResult, run_scenario

_inherited: dict[str, LoadedScenario] = {}
"""Scenarios the parent loaded before forking; workers use them instead of re-reading files."""


def _run_slice(
    path: str, users: list[str], mode: AwsMode, endpoint_url: str | None
) -> tuple[UserResult, ...]:
    loaded = _inherited.get(path) or load_scenario(Path(path))
    with open_exchanger(loaded, mode, endpoint_url=endpoint_url) as exchanger:
        return run_scenario(loaded, exchanger, users=users).users


def run_parallel(
    loaded: LoadedScenario, jobs: int, *, mode: AwsMode = "moto", endpoint_url: str | None = None
) -> ScenarioResult:
    """Run ``loaded`` with ``jobs`` worker processes (users dealt round-robin); same result shape
    and user order as a serial run."""
    users = loaded.expected_users()
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
    covered = set(users)
    unexpected = tuple(u.name for u in loaded.directory.users() if u.name not in covered)
    ordered = tuple(by_user[u] for u in users)
    findings = tuple(o.finding for r in ordered for o in r.outcomes if o.finding)
    return ScenarioResult(
        loaded.name, str(loaded.path), mode, ordered, unexpected, findings, tuple(loaded.lint())
    )
