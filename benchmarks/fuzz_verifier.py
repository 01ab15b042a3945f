"""Fuzz the hardened verifier with mutated signed responses, many examples, and count outcomes.

Run with ``python benchmarks/fuzz_verifier.py [--examples N] [--seed S]`` (default 10,000).
The strategies and the oracle are the ones of ``tests/sp_fixtures/attacks/test_fuzz.py``
(``tests/sp_fixtures/attacks/mutations.py``): byte, node and attribute mutations of responses
freshly signed by the mock IdP (assertion, response and both signed). It prints how many
examples ran, how many crashed the verifier (any exception but VerificationError, or no answer
within 5 s), how many were accepted with changed signed content (must be 0), the refusal codes
seen, and the time taken. Exit status 1 if anything crashed or was accepted changed.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from idp.provider import IdentityProvider  # noqa: E402
from sp_fixtures.attacks.generator import AttackGenerator, Target  # noqa: E402
from sp_fixtures.verify import TrustedIdp  # noqa: E402
from tests.sp_fixtures.attacks.mutations import (  # noqa: E402
    Baseline,
    Verdict,
    judge,
    make_baseline,
    mutations,
)

WORLD = ROOT / "tests" / "data" / "attacks" / "world.yaml"
LAYOUTS = ("assertion", "response", "both")


def baselines() -> tuple[Baseline, ...]:
    """Return one freshly signed baseline per signing layout."""
    provider = IdentityProvider.from_file(WORLD)
    trusted = TrustedIdp.from_metadata(provider.metadata())
    generator = AttackGenerator(provider, Target(user="alice"))
    return tuple(
        make_baseline(layout, generator.baseline(layout), trusted)  # type: ignore[arg-type]
        for layout in LAYOUTS
    )


def fuzz(examples: int, random_seed: int) -> tuple[collections.Counter[str], list[str], float]:
    """Run ``examples`` mutated responses through the verifier; return outcome counts."""
    pool = baselines()
    counts: collections.Counter[str] = collections.Counter()
    problems: list[str] = []

    @seed(random_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        baseline = data.draw(st.sampled_from(pool))
        mutated = data.draw(mutations(len(baseline.document)))(baseline.document)
        verdict: Verdict = judge(baseline, mutated)
        counts["examples"] += 1
        counts[
            f"{verdict.kind}:{verdict.detail}" if verdict.kind == "refused" else verdict.kind
        ] += 1
        if verdict.kind in ("crash", "changed"):
            problems.append(
                f"{verdict.kind} ({baseline.layout}): {verdict.detail}: {mutated[:200]!r}"
            )

    started = time.perf_counter()
    run()
    return counts, problems, time.perf_counter() - started


def main() -> int:
    """Parse arguments, fuzz, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    counts, problems, elapsed = fuzz(args.examples, args.seed)
    total = counts["examples"]
    refused = sum(n for key, n in counts.items() if key.startswith("refused:"))
    print(f"examples:                     {total}")
    print(f"crashes (incl. hangs > 5 s):  {counts['crash']}")
    print(f"accepted with changed content: {counts['changed']}")
    print(f"accepted, signed content intact: {counts['unchanged']}")
    print(f"refused (VerificationError):  {refused}")
    for key, number in sorted(counts.items(), key=lambda item: -item[1]):
        if key.startswith("refused:"):
            print(f"    {key.removeprefix('refused:'):<24} {number}")
    print(f"time: {elapsed:.1f} s ({total / elapsed:.0f} examples/s, seed {args.seed})")
    for problem in problems[:20]:
        print("PROBLEM", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
