"""Cost of evaluating the AWS blog's ADFS claim rules for a user in 200 groups: target <= 1 ms.

Run with ``python benchmarks/adfs.py [--seconds N] [--groups N]``. The rule set is
``tests/data/adfs/aws-blog.rules`` (reference idp-mappings.md §1.4: NameId, RoleSessionName from
``mail``, groups from ``tokenGroups``, Roles by RegExReplace). The user is directly in 3/4 of the
groups and inherits the rest through nesting, as ``tokenGroups`` would; a quarter of the groups
are ``AWS-*`` (each fires the Roles rule). Rules are parsed and regexes compiled once, when the
engine is built; the loop times :meth:`AdfsMapping.map` alone, trace included. A second line
times the worst case, every group an ``AWS-*`` group.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.directory import Directory, Group, User  # noqa: E402
from idp.mapping.adfs import AdfsMapping, AdfsMappingConfig  # noqa: E402
from idp.mapping.base import MappingInput  # noqa: E402
from idp.saml.constants import AwsAttribute  # noqa: E402

RULES = ROOT / "tests" / "data" / "adfs" / "aws-blog.rules"
TARGET_MS = 1.0


def subject(groups: int, aws_every: int) -> MappingInput:
    """Return alice in ``groups`` groups, a quarter inherited; every ``aws_every``-th is AWS-*."""
    names = [
        f"AWS-Team{i:03d}" if i % aws_every == 0 else f"Staff Group {i:03d}" for i in range(groups)
    ]
    direct = names[: groups * 3 // 4]
    inherited = names[groups * 3 // 4 :]
    parents = [
        Group(name, member_of=(inherited[i % len(inherited)],) if inherited else ())
        for i, name in enumerate(direct)
    ]
    user = User("alice", email="alice@corp.example", direct_groups=tuple(direct))
    directory = Directory([user], parents)
    return MappingInput(user, directory.groups_of(user), directory.direct_groups_of(user))


def per_call_ms(engine: AdfsMapping, who: MappingInput, seconds: float) -> tuple[float, int]:
    """Return the median ms per ``map`` over batches run for about ``seconds``, and the count."""
    batch, calls = 50, 0
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        for _ in range(batch):
            engine.map(who)
        samples.append(1000 * (time.perf_counter() - start) / batch)
        calls += batch
    return statistics.median(samples), calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--groups", type=int, default=200, help="groups of the user")
    args = parser.parse_args()

    start = time.perf_counter()
    engine = AdfsMapping(AdfsMappingConfig(rules_file=RULES.relative_to(ROOT)), base_dir=ROOT)
    build_ms = 1000 * (time.perf_counter() - start)
    typical, worst = subject(args.groups, aws_every=4), subject(args.groups, aws_every=1)
    typical_ms, calls = per_call_ms(engine, typical, args.seconds)
    worst_ms, _ = per_call_ms(engine, worst, args.seconds)
    role_values = len(engine.map(typical).values(AwsAttribute.ROLE))

    print(f"rule set parsed and compiled once     {build_ms:8.1f} ms (grammar load included)")
    print(
        f"{len(typical.groups)} groups, {role_values} AWS-* (typical)     "
        f"{typical_ms:8.3f} ms/evaluation ({calls} evaluations)"
    )
    print(f"{len(worst.groups)} groups, all AWS-* (worst case)    {worst_ms:8.3f} ms/evaluation")
    holds = typical_ms <= TARGET_MS
    print(
        f"target: <= {TARGET_MS:g} ms per evaluation for a user in {args.groups} groups: "
        f"{'met' if holds else 'MISSED'}"
    )
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
