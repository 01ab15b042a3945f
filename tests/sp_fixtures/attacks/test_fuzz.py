"""Property-based robustness of the verifier: mutated responses never crash it, never hang it,
and are never accepted with changed signed content (compared canonically).

A few hundred examples here; ``benchmarks/fuzz_verifier.py`` runs tens of thousands.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.provider import IdentityProvider
from sp_fixtures.attacks.generator import AttackGenerator, Target
from sp_fixtures.verify import TrustedIdp
from tests.conftest import DATA
from tests.sp_fixtures.attacks.mutations import (
    Baseline,
    Hang,
    attribute_mutations,
    byte_mutations,
    dom_mutation,
    hang_guard,
    judge,
    make_baseline,
    node_mutations,
)

WORLD = DATA / "attacks" / "world.yaml"
LAYOUTS = ("assertion", "response", "both")
FUZZ = settings(
    max_examples=500,
    deadline=dt.timedelta(seconds=3),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def baselines() -> tuple[Baseline, ...]:
    provider = IdentityProvider.from_file(WORLD)
    trusted = TrustedIdp.from_metadata(provider.metadata())
    generator = AttackGenerator(provider, Target(user="alice"))
    return tuple(
        make_baseline(layout, generator.baseline(layout), trusted)  # type: ignore[arg-type]
        for layout in LAYOUTS
    )


def check(baseline: Baseline, mutated: bytes) -> None:
    verdict = judge(baseline, mutated)
    assert verdict.kind in ("refused", "unchanged"), (
        f"{verdict.kind} ({baseline.layout}-signed): {verdict.detail}\n{mutated!r}"
    )


@FUZZ
@given(data=st.data())
def test_byte_mutations(baselines: tuple[Baseline, ...], data: st.DataObject) -> None:
    baseline = data.draw(st.sampled_from(baselines))
    mutate = data.draw(byte_mutations(len(baseline.document)))
    check(baseline, mutate(baseline.document))


@FUZZ
@given(data=st.data())
def test_node_mutations(baselines: tuple[Baseline, ...], data: st.DataObject) -> None:
    baseline = data.draw(st.sampled_from(baselines))
    edits = data.draw(st.lists(node_mutations(), min_size=1, max_size=3))
    check(baseline, dom_mutation(edits)(baseline.document))


@FUZZ
@given(data=st.data())
def test_attribute_mutations(baselines: tuple[Baseline, ...], data: st.DataObject) -> None:
    baseline = data.draw(st.sampled_from(baselines))
    edits = data.draw(st.lists(attribute_mutations(), min_size=1, max_size=3))
    check(baseline, dom_mutation(edits)(baseline.document))


def test_untouched_baselines_are_accepted_unchanged(baselines: tuple[Baseline, ...]) -> None:
    for baseline in baselines:
        assert judge(baseline, baseline.document).kind == "unchanged"


def test_oracle_sees_changed_signed_content(baselines: tuple[Baseline, ...]) -> None:
    """Judge a genuine response against another's record: the oracle must call it changed."""
    first, second = baselines[0], baselines[1]
    verdict = judge(dataclasses.replace(first, verified=second.verified), first.document)
    assert verdict.kind == "changed"


def test_oracle_classifies_refusals_and_crashes(baselines: tuple[Baseline, ...]) -> None:
    assert judge(baselines[0], b"not xml").kind == "refused"
    broken = dataclasses.replace(baselines[0], trusted=None)  # type: ignore[arg-type]
    assert judge(broken, baselines[0].document).kind == "crash"


def test_hang_guard_interrupts_a_hang() -> None:
    with pytest.raises(Hang), hang_guard(0.05):
        time.sleep(2)
