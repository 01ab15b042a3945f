"""`fedharness run` performance: the three figures of the scenario runner's targets.

Run with ``python benchmarks/run.py``. Prints, from one run:
  1. end-to-end strict cases per second on one core (sign + verify + trust policy + moto
     credentials; one user with one role = one case), target >= 400/s;
  2. the full strict run of a generated 10,000-user directory with ``--jobs 2``, target <= 20 s;
  3. ``fedharness run`` on one small scenario, from process start to verdict, target <= 1.0 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROLES = 20


def generate(path: Path, users: int, roles_per_user: int) -> None:
    """Write a scenario of ``users`` users, each expected to get ``roles_per_user`` roles."""
    lines = [
        "name: run-benchmark",
        "idp:",
        "  entity_id: https://idp.corp.example/saml",
        "  signing:",
        f"    key: {ROOT / 'certs' / 'sample-idp.key'}",
        f"    cert: {ROOT / 'certs' / 'sample-idp.crt'}",
        "  mapping:",
        "    explicit:",
        "      provider_name: CorpIdP",
        "      groups:",
    ]
    lines += [f"        team-{r}: [arn:aws:iam::111111111111:role/Role{r}]" for r in range(ROLES)]
    lines += ["directory:", "  users:"]
    expect = ["expect:"]
    for u in range(users):
        teams = sorted({(u * (k + 3)) % ROLES for k in range(roles_per_user)})
        lines.append(
            f"    user{u}: {{email: user{u}@corp.example, groups: "
            f"[{', '.join(f'team-{t}' for t in teams)}]}}"
        )
        arns = ", ".join(f"arn:aws:iam::111111111111:role/Role{t}" for t in teams)
        expect.append(f"  user{u}: {{roles: [{arns}]}}")
    lines += [
        "aws:",
        "  accounts:",
        '    "111111111111":',
        "      saml_providers: {CorpIdP: {metadata: from-idp}}",
        "      roles:",
    ]
    lines += [f"        Role{r}: {{trusts: CorpIdP}}" for r in range(ROLES)]
    path.write_text("\n".join(lines + expect) + "\n", encoding="utf-8")


def one_core_rate(path: Path) -> tuple[float, int]:
    """Return strict cases per second on one core, in-process, and the case count."""
    from scenarios.exchange import open_exchanger
    from scenarios.loader import load_scenario
    from scenarios.runner import run_scenario

    loaded = load_scenario(path)
    with open_exchanger(loaded) as exchanger:
        run_scenario(loaded, exchanger, users=loaded.expected_users()[:20])  # warm-up
        start = time.perf_counter()
        result = run_scenario(loaded, exchanger)
        elapsed = time.perf_counter() - start
    assert result.passed, "benchmark scenario must pass"
    cases = sum(len(user.outcomes) for user in result.users)
    return cases / elapsed, cases


def wall(command: list[str]) -> float:
    """Return the wall time of ``command``; fail loudly when it fails."""
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000, help="size of the large run")
    parser.add_argument("--cases", type=int, default=1000, help="cases of the one-core run")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "scenarios.cli", "run"]
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder) / "one-role.yaml"
        generate(small, args.cases, 1)
        large = Path(folder) / "large.yaml"
        generate(large, args.users, 2)
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        if affinity:
            os.sched_setaffinity(0, {min(affinity)})
        rate, cases = one_core_rate(small)
        if affinity:
            os.sched_setaffinity(0, affinity)
        print(
            f"1. strict cases on one core: {rate:7.0f} /s  ({cases} cases)   "
            f"target >= 400/s  {'OK' if rate >= 400 else 'MISSED'}"
        )
        large_time = wall([*cli, str(large), "--jobs", "2"])
        print(
            f"2. {args.users} users, full strict run, --jobs 2: {large_time:6.1f} s   "
            f"target <= 20 s  {'OK' if large_time <= 20 else 'MISSED'}"
        )
        example = ROOT / "scenarios" / "examples" / "single-account.yaml"
        times = [wall([*cli, str(example)]) for _ in range(5)]
        median = statistics.median(times)
        print(
            f"3. fedharness run on one small scenario (median of 5): {median:5.2f} s   "
            f"target <= 1.0 s  {'OK' if median <= 1.0 else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
