"""pytest plugin: scenario files as test items, and fixtures for writing your own tests.

Registered through the ``pytest11`` entry point. Fixtures are layered like pytest-httpserver's:
``fedharness_scenario_path`` (override it, session scope) → ``fedharness_scenario`` and
``strict_sts_server`` (session) → ``mock_idp``, ``aws_world``, ``strict_sts`` (per test).
The helper classes live in :mod:`scenarios.pytest_items`.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from idp.provider import IdentityProvider
from scenarios.loader import LoadedScenario, load_scenario
from scenarios.pytest_items import (
    WORLDS_KEY,
    AwsWorldFixture,
    MotoWorlds,
    NotAScenario,
    ScenarioFile,
    StrictStsServer,
    failing_on_user_errors,
    is_scenario_file,
    looks_like_scenario,
)
from sp_fixtures.attacks.pytest_fixtures import (  # noqa: F401 - fixtures for users' tests
    attack_canary,
    attack_generator,
    attack_runner,
    catalogue_attack,
    fedharness_attack_target,
)
from sp_fixtures.aws.inprocess import install as install_strict_sts_hooks
from sp_fixtures.aws.sts import StrictSts


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--fedharness-*`` options and the ``fedharness_*`` ini settings."""
    group = parser.getgroup("fedharness", "fedharness scenario files")
    group.addoption(
        "--fedharness-aws",
        dest="fedharness_aws",
        choices=("moto", "server"),
        default="moto",
        help="Where scenario items exchange assertions: moto in-process (default) or a running "
        "`fedharness sts serve` (with --fedharness-endpoint-url).",
    )
    group.addoption(
        "--fedharness-endpoint-url",
        dest="fedharness_endpoint_url",
        default=None,
        help="STS/IAM endpoint for --fedharness-aws server.",
    )
    parser.addini(
        "fedharness_scenarios",
        type="args",
        default=["*.scenario.yaml"],
        help="Glob patterns of the scenario files collected as tests (default: *.scenario.yaml).",
    )
    parser.addini(
        "fedharness_scenario",
        type="string",
        default="",
        help="Scenario file (relative to the ini file) the fedharness fixtures use; a test "
        "using them without one errors.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and give this process its owner of moto's state."""
    if config.getoption("fedharness_aws") == "server" and not config.getoption(
        "fedharness_endpoint_url"
    ):
        raise pytest.UsageError(
            "--fedharness-aws server needs --fedharness-endpoint-url "
            "(the URL `fedharness sts serve` prints)"
        )
    config.stash[WORLDS_KEY] = MotoWorlds()
    # boto3 clients copy their hooks when they are made: install the in-process strict STS's
    # now, so a client made before a test's `strict_sts` (from `aws_world`, say) is covered.
    # The hooks do nothing outside a strict_sts block.
    install_strict_sts_hooks()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the moto world this process provisioned."""
    worlds = config.stash.get(WORLDS_KEY, None)
    if worlds is not None:
        worlds.close()


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> Generator[None, list[pytest.Collector | None], list[pytest.Collector | None]]:
    """Collect files matching ``fedharness_scenarios`` as scenario files.

    A YAML file named on the command line (``pytest checks/prod.yaml``) that no other plugin
    collects is a scenario too when it has a scenario's top-level keys; otherwise it is one
    collection error saying which files fedharness collects (not pytest's bare "not found").
    """
    collected = yield
    if is_scenario_file(file_path, parent.config.getini("fedharness_scenarios")):
        return [*collected, ScenarioFile.from_parent(parent, path=file_path)]
    if (
        file_path.suffix in (".yaml", ".yml")
        and parent.session.isinitpath(file_path)
        and not any(collected)
    ):
        if looks_like_scenario(file_path):
            return [*collected, ScenarioFile.from_parent(parent, path=file_path)]
        return [*collected, NotAScenario.from_parent(parent, path=file_path)]
    return collected


@pytest.fixture(scope="session")
def fedharness_scenario_path(pytestconfig: pytest.Config) -> Path:
    """Return the scenario file the fixtures use; override (session scope) to choose another.

    Without one, a test using the fixtures errors: a skip would leave CI green with nothing tested.
    """
    configured = str(pytestconfig.getini("fedharness_scenario"))
    if not configured:
        pytest.fail(
            "no scenario for the fedharness fixtures: set the ini option 'fedharness_scenario' "
            "(e.g. fedharness_scenario = tests/prod.scenario.yaml, relative to the ini file) "
            "or override the session-scoped 'fedharness_scenario_path' fixture in conftest.py",
            pytrace=False,
        )
    base = pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath
    return base / configured


@pytest.fixture(scope="session")
def fedharness_scenario(fedharness_scenario_path: Path) -> LoadedScenario:
    """Return the loaded scenario; a mistake in it fails the test with ``file:line: message``."""
    with failing_on_user_errors():
        return load_scenario(fedharness_scenario_path)


@pytest.fixture
def mock_idp(fedharness_scenario: LoadedScenario) -> IdentityProvider:
    """Return the scenario's IdP in-process (``.issue(user)``, ``.metadata()``, …).

    Each test gets its own shallow copy: swapping its engine, keys or settings stays in the test.
    """
    return copy.copy(fedharness_scenario.provider)


@pytest.fixture
def aws_world(
    pytestconfig: pytest.Config, fedharness_scenario: LoadedScenario
) -> Iterator[AwsWorldFixture]:
    """Provision the scenario's AWS world into moto for one test, with ``mock_aws`` active."""
    worlds = pytestconfig.stash[WORLDS_KEY]
    with (
        failing_on_user_errors("the AWS world could not be set up"),
        worlds.for_test(fedharness_scenario) as world,
    ):
        yield AwsWorldFixture(world)


@pytest.fixture
def strict_sts(aws_world: AwsWorldFixture) -> Iterator[StrictSts]:
    """Return the strict STS over ``aws_world``; boto3's AssumeRoleWithSAML goes through it."""
    from sp_fixtures.aws.inprocess import strict_sts as answer_boto3_with

    with answer_boto3_with(aws_world.world.sts) as sts:
        yield sts


@pytest.fixture(scope="session")
def strict_sts_server(
    pytestconfig: pytest.Config, fedharness_scenario: LoadedScenario
) -> Iterator[StrictStsServer]:
    """Serve the strict STS over the scenario's world on a free 127.0.0.1 port (``.url``)."""
    with failing_on_user_errors("the AWS world could not be set up"):
        server = StrictStsServer.start(pytestconfig.stash[WORLDS_KEY], fedharness_scenario)
    try:
        yield server
    finally:
        server.stop()
