"""pytest fixtures that aim the attack catalogue at your own service provider.

Fixtures only (no hooks), layered like the plugin's: override ``fedharness_attack_target`` to
choose the user and SP; ``attack_generator`` builds from the plugin's ``mock_idp``;
``attack_runner`` posts to your ACS. For one test per attack, use ``catalogue_attack``::

    @pytest.fixture
    def fedharness_attack_target() -> Target:
        return Target(user="alice", sp="my-app", recipient="http://127.0.0.1:8000/acs")

    def test_my_sp_refuses_every_attack(attack_runner):
        report = attack_runner.run("http://127.0.0.1:8000/acs", status=302)
        assert not report.inconclusive, report.summary()
        assert not report.findings, format_report(report)

    def test_one_attack(catalogue_attack, attack_runner):
        outcome = attack_runner.send(catalogue_attack, "http://127.0.0.1:8000/acs", status=302)
        assert not outcome.finding, outcome.verdict
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sp_fixtures.attacks.catalogue import Attack, load_catalogue
from sp_fixtures.attacks.generator import AttackGenerator, MockIdp, Target
from sp_fixtures.attacks.runner import (
    AcceptanceRule,
    AttackReport,
    CanaryListener,
    Outcome,
    check_target,
    run_against_sp,
    send,
)

__all__ = [
    "AttackRunner",
    "attack_canary",
    "attack_generator",
    "attack_ids",
    "attack_runner",
    "catalogue_attack",
    "fedharness_attack_target",
]


def attack_ids() -> list[str]:
    """Return every catalogue id, e.g. for ``@pytest.mark.parametrize``."""
    return [attack.id for attack in load_catalogue()]


class AttackRunner:
    """Send the generator's attacks to an ACS on loopback and judge them."""

    def __init__(self, generator: AttackGenerator, listener: CanaryListener | None) -> None:
        self.generator = generator
        self.listener = listener

    def run(
        self,
        url: str,
        *,
        status: int | None = None,
        text: str | None = None,
        cookie: str | None = None,
        attacks: list[Attack] | None = None,
        allow_remote: bool = False,
    ) -> AttackReport:
        """Send the control and every attack (or ``attacks``); return the report."""
        return run_against_sp(
            self.generator,
            url,
            AcceptanceRule(status, text, cookie),
            attacks=attacks,
            allow_remote=allow_remote,
            listener=self.listener,
        )

    def send(
        self,
        attack: Attack | str,
        url: str,
        *,
        status: int | None = None,
        text: str | None = None,
        cookie: str | None = None,
        allow_remote: bool = False,
    ) -> Outcome:
        """Send one attack (or ``"control"``) and return its outcome."""
        check_target(url, allow_remote=allow_remote)
        return send(
            self.generator.build(attack),
            url,
            AcceptanceRule(status, text, cookie),
            listener=self.listener,
        )


@pytest.fixture
def fedharness_attack_target() -> Target:
    """Return whom the attacks impersonate and which SP they target; override it.

    Not overridden, a test using it errors: a skip would leave CI green with no attack sent.
    """
    pytest.fail(
        "no attack target: override the 'fedharness_attack_target' fixture to return "
        "sp_fixtures.attacks.generator.Target(user=..., sp=..., recipient=...)",
        pytrace=False,
    )


@pytest.fixture
def attack_canary() -> Iterator[CanaryListener]:
    """Run a loopback listener that records out-of-band fetches (XXE, XInclude)."""
    listener = CanaryListener().start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def attack_generator(
    mock_idp: MockIdp, fedharness_attack_target: Target, attack_canary: CanaryListener
) -> AttackGenerator:
    """Return a generator of the catalogue for the plugin's ``mock_idp`` and your target."""
    return AttackGenerator(mock_idp, fedharness_attack_target, canary_url=attack_canary.url)


@pytest.fixture
def attack_runner(attack_generator: AttackGenerator, attack_canary: CanaryListener) -> AttackRunner:
    """Return a runner posting the generator's attacks to an ACS on loopback."""
    return AttackRunner(attack_generator, attack_canary)


@pytest.fixture(params=load_catalogue(), ids=lambda attack: attack.id)
def catalogue_attack(request: pytest.FixtureRequest) -> Attack:
    """Return each catalogue attack in turn (one test per attack)."""
    attack: Attack = request.param
    return attack
