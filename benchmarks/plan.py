"""`fedharness plan` on a generated directory of 10,000 users: target <= 2 s.

Run with ``python benchmarks/plan.py`` (``--users N`` to change the size). The generated scenario
has groups nested three deep (team → department → aws-* group) and 50 role mappings over five
accounts. The directory is generated twice: as a CSV file the scenario names (how a directory
export of that size usually arrives) and inline in the scenario YAML. Each is timed in-process
(load + mapping + JSON) and as a subprocess ``fedharness plan SCENARIO --format json`` (process
start included).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 2.0
ACCOUNTS = tuple(f"1000000000{i:02d}" for i in range(5))
ROLES = tuple(f"Role{j}" for j in range(10))
DEPARTMENTS, TEAMS = 100, 500
#: Runs ``fedharness`` whether or not ``scenarios.cli`` registers ``plan`` itself yet.
CLI = (
    "import sys; from scenarios.cli import main; from scenarios.cli_scenarios import register; "
    "register(main); main(prog_name='fedharness')"
)


def _scenario_head() -> list[str]:
    lines = [
        "name: plan-benchmark",
        "idp:",
        "  entity_id: https://idp.corp.example/saml",
        "  signing:",
        f"    key: {ROOT / 'certs' / 'sample-idp.key'}",
        f"    cert: {ROOT / 'certs' / 'sample-idp.crt'}",
        "  attributes:",
        "    role_session_name: '{email}'",
        "  mapping:",
        "    explicit:",
        "      provider_name: CorpIdP",
        "      groups:",
    ]
    lines += [
        f"        aws-{account}-{role}: [arn:aws:iam::{account}:role/{role}]"
        for account in ACCOUNTS
        for role in ROLES
    ]
    return lines


def _groups() -> list[str]:
    aws_groups = [f"aws-{account}-{role}" for account in ACCOUNTS for role in ROLES]
    lines = ["  groups:"]
    lines += [
        f"    dept-{i}: {{member_of: [{aws_groups[i % 50]}, {aws_groups[(3 * i + 1) % 50]}]}}"
        for i in range(DEPARTMENTS)
    ]
    lines += [f"    team-{i}: {{member_of: [dept-{i % DEPARTMENTS}]}}" for i in range(TEAMS)]
    return lines


def _aws() -> list[str]:
    lines = ["aws:", "  accounts:"]
    for account in ACCOUNTS:
        lines += [
            f'    "{account}":',
            "      saml_providers: {CorpIdP: {metadata: from-idp}}",
            "      roles:",
        ]
        lines += [f"        {role}: {{trusts: CorpIdP}}" for role in ROLES]
    return lines


def _user_groups(n: int) -> tuple[str, str]:
    return f"team-{n % TEAMS}", f"team-{(7 * n) % TEAMS}"


def generate(folder: Path, users: int, *, inline: bool) -> Path:
    """Write a scenario with ``users`` users (inline, or in users.csv) and return its path."""
    lines = [*_scenario_head(), "directory:"]
    if inline:
        lines.append("  users:")
        lines += [
            f"    user{n:05d}: {{email: user{n:05d}@corp.example, "
            f"groups: [{', '.join(_user_groups(n))}]}}"
            for n in range(users)
        ]
    else:
        rows = ["name,email,groups"]
        rows += [
            f"user{n:05d},user{n:05d}@corp.example,{';'.join(_user_groups(n))}"
            for n in range(users)
        ]
        (folder / "users.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        lines.append("  file: users.csv")
    lines += [*_groups(), *_aws()]
    path = folder / ("inline.yaml" if inline else "from-csv.yaml")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def time_in_process(path: Path) -> tuple[float, int]:
    """Return seconds for load + matrix + JSON, and the number of users mapped."""
    from scenarios.loader import load_scenario
    from scenarios.plan import compute_matrix

    start = time.perf_counter()
    matrix = compute_matrix(load_scenario(path))
    with redirect_stdout(io.StringIO()):
        print(matrix.to_json())
    return time.perf_counter() - start, len(matrix.users)


def time_subprocess(path: Path) -> float:
    """Return wall seconds of ``fedharness plan PATH --format json`` in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "plan", str(path), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"fedharness plan failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    """Generate the scenarios, time plan on each, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    verdicts: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="fedharness-plan-") as folder:
        for inline in (False, True):
            path = generate(Path(folder), args.users, inline=inline)
            label = "inline YAML" if inline else "CSV file   "
            seconds, mapped = time_in_process(path)
            wall = time_subprocess(path)
            ok = wall <= TARGET_SECONDS
            verdicts.append(ok)
            print(
                f"{label}: {mapped} users  in-process {seconds:.2f} s  "
                f"subprocess {wall:.2f} s  (target <= {TARGET_SECONDS:.0f} s: "
                f"{'holds' if ok else 'MISSED'})"
            )
    sys.exit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
