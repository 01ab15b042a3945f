"""SessionKeys: SAML-session access keys are remembered while a session can live, bounded."""

from __future__ import annotations

from sp_fixtures.aws.session_keys import LONGEST_SESSION_SECONDS, SessionKeys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_forgotten_when_no_session_could_be_alive() -> None:
    clock = Clock()
    keys = SessionKeys(clock=clock)
    keys.add("ASIAOLD")
    clock.now += LONGEST_SESSION_SECONDS - 1
    keys.add("ASIANEW")
    assert "ASIAOLD" in keys and "ASIANEW" in keys
    clock.now += 1
    assert "ASIAOLD" not in keys
    assert keys.snapshot() == frozenset({"ASIANEW"})


def test_memory_is_bounded_by_capacity() -> None:
    keys = SessionKeys(capacity=3)
    for i in range(10):
        keys.add(f"ASIA{i}")
    assert len(keys) == 3
    assert keys.snapshot() == frozenset({"ASIA7", "ASIA8", "ASIA9"})
    assert keys.any_of(["nope", "ASIA8"]) and not keys.any_of(["ASIA0"])
