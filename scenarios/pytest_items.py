"""What the pytest plugin is made of: scenario files as test items, and moto worlds for fixtures.

moto's in-process state (``mock_aws``) is one per process, so :class:`MotoWorlds` owns it for a
pytest process: one provisioned scenario world at a time, kept between uses and provisioned again
only when another world (or anything that resets moto) replaced it. Under pytest-xdist every
worker is its own process and builds its own worlds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from idp.errors import IdpError
from scenarios.exchange import AwsMode, Exchanger, MotoExchanger, open_exchanger
from scenarios.loader import LoadedScenario, check_runnable, load_scenario
from scenarios.model import Expectation, is_pattern
from scenarios.runner import UserResult, run_uncovered, run_user
from sp_fixtures.aws.account import AccountError, IamView
from sp_fixtures.aws.iam_view import DEFAULT_REGION
from sp_fixtures.aws.provision import BOTOCORE_ERRORS
from sp_fixtures.aws.server import InternalFailure, RunningServer, StrictStsApp, WsgiApp
from sp_fixtures.aws.sts import StrictSts
from sp_fixtures.aws.wire import error_xml

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

USER_ERRORS: tuple[type[Exception], ...] = (IdpError, AccountError, *BOTOCORE_ERRORS)
"""Errors that are a scenario's (or an endpoint's) fault: reported as one message."""


@contextlib.contextmanager
def failing_on_user_errors(what: str | None = None) -> Iterator[None]:
    """Turn a scenario's (or an endpoint's) error in the block into a failure without traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        message = str(exc) if what is None else f"{what}: {exc}"
        raise pytest.fail.Exception(message, pytrace=False) from None


# --- moto worlds -------------------------------------------------------------------------------


@contextlib.contextmanager
def moto_active(*, remove_data: bool = False) -> Iterator[None]:
    """Intercept botocore with moto inside the block, keeping moto's data unless told otherwise."""
    from moto import mock_aws

    mock = mock_aws()
    mock.start(reset=False)
    try:
        yield
    finally:
        mock.stop(remove_data=remove_data)


def reset_moto() -> None:
    """Drop everything moto holds in-process (what ``mock_aws`` does when a test ends)."""
    from moto.core.base_backend import BackendDict

    BackendDict.reset()


@dataclass(frozen=True)
class MotoWorld:
    """A scenario's AWS world provisioned into moto in-process, with its strict STS."""

    scenario_path: Path
    exchanger: MotoExchanger
    saml_providers: tuple[str, ...]
    roles: tuple[str, ...]
    role_ids: Mapping[str, str]
    """Role ARN → the RoleId moto gave it: a world provisioned again gets other ids."""

    @classmethod
    def provision(cls, loaded: LoadedScenario) -> MotoWorld:
        """Provision ``loaded``'s AWS world into moto (moto must be active)."""
        exchanger = MotoExchanger(loaded)
        roles = tuple(loaded.scenario.aws.role_arns())
        role_ids = {
            arn: record.role_id
            for arn in roles
            if (record := exchanger.sts.iam.role(arn)) is not None
        }
        return cls(
            loaded.path.resolve(),
            exchanger,
            tuple(loaded.scenario.aws.provider_arns()),
            roles,
            role_ids,
        )

    @property
    def sts(self) -> StrictSts:
        """Return the strict STS over this world."""
        return self.exchanger.sts

    def intact(self) -> bool:
        """Tell whether moto still holds this very world (nothing reset or replaced it)."""
        iam = self.sts.iam
        for arn, role_id in self.role_ids.items():
            role = iam.role(arn)
            if role is None or role.role_id != role_id:
                return False
        return all(iam.saml_provider(arn) is not None for arn in self.saml_providers)


class MotoWorlds:
    """Own moto's in-process state for one pytest process: one scenario world at a time."""

    def __init__(self) -> None:
        self._current: MotoWorld | None = None
        self._lock = threading.RLock()

    def get(self, loaded: LoadedScenario, *, fresh: bool = False) -> MotoWorld:
        """Return ``loaded``'s world, provisioning it when moto does not hold it (or ``fresh``)."""
        with self._lock:
            current = self._current
            if (
                not fresh
                and current is not None
                and current.scenario_path == loaded.path.resolve()
                and current.intact()
            ):
                return current
            self._current = None
            with moto_active():
                reset_moto()
                self._current = MotoWorld.provision(loaded)
            return self._current

    @contextlib.contextmanager
    def for_test(self, loaded: LoadedScenario) -> Iterator[MotoWorld]:
        """Give one test a freshly provisioned world with moto active; drop it afterwards."""
        with moto_active(remove_data=True):
            try:
                yield self.get(loaded, fresh=True)
            finally:
                self.forget()

    def forget(self) -> None:
        """Treat moto's current world as unknown (a test may have changed it)."""
        with self._lock:
            self._current = None

    def close(self) -> None:
        """Drop the world this process provisioned, if moto still holds it."""
        with self._lock:
            if self._current is not None and self._current.intact():
                reset_moto()
            self._current = None


WORLDS_KEY = pytest.StashKey[MotoWorlds]()
"""Where the plugin keeps the process's :class:`MotoWorlds` on the pytest config."""


# --- fixture objects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsWorldFixture:
    """What the ``aws_world`` fixture gives a test: the provisioned ARNs and boto3 sessions."""

    world: MotoWorld

    @property
    def saml_providers(self) -> tuple[str, ...]:
        """Return the ARNs of the provisioned SAML providers."""
        return self.world.saml_providers

    @property
    def roles(self) -> tuple[str, ...]:
        """Return the ARNs of the provisioned roles."""
        return self.world.roles

    def iam(self) -> IamView:
        """Return the view of IAM the strict STS reads (providers, roles, what moto drops)."""
        return self.world.sts.iam

    def session(self, *, region_name: str = DEFAULT_REGION) -> Any:
        """Return a boto3 session for moto (its calls land in moto's default account)."""
        import boto3

        return boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto checks none
            region_name=region_name,
        )

    def client(self, service: str, *, account_id: str | None = None) -> Any:
        """Return a boto3 client for moto, its calls landing in ``account_id`` when given."""
        from sp_fixtures.aws.iam_view import pin_moto_account

        client = self.session().client(service)
        if account_id is not None:
            pin_moto_account(client, account_id)
        return client


class _ScenarioStsApp:
    """WSGI app: the strict STS of a scenario's world, provisioned again if it was replaced."""

    def __init__(self, worlds: MotoWorlds, loaded: LoadedScenario, fallback: WsgiApp) -> None:
        self.worlds = worlds
        self.loaded = loaded
        self.fallback = fallback
        self.errors: list[BaseException] = []
        self._served: tuple[MotoWorld, StrictStsApp] | None = None
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request against the scenario's world."""
        try:
            app = self._app()
        except Exception as exc:  # re-raised in the test by StrictStsServer.check()
            self.errors.append(exc)
            payload = error_xml(InternalFailure(f"fedharness could not provision the world: {exc}"))
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return app(environ, start_response)

    def _app(self) -> StrictStsApp:
        world = self.worlds.get(self.loaded)
        with self._lock:
            if self._served is None or self._served[0] is not world:
                self._served = (world, StrictStsApp(world.sts, self.fallback))
            return self._served[1]


@dataclass
class StrictStsServer:
    """The strict STS (and moto behind it) served on 127.0.0.1 from a thread."""

    running: RunningServer
    errors: list[BaseException]
    """What the server thread could not do (provision the world again); see :meth:`check`."""

    @classmethod
    def start(cls, worlds: MotoWorlds, loaded: LoadedScenario) -> StrictStsServer:
        """Provision ``loaded``'s world and serve it on a free port."""
        from sp_fixtures.aws.server import moto_app, serve_in_thread

        worlds.get(loaded)
        app = _ScenarioStsApp(worlds, loaded, moto_app())
        return cls(serve_in_thread(app), app.errors)

    @property
    def url(self) -> str:
        """Return the endpoint URL to give boto3 or the AWS CLI."""
        return self.running.url

    def check(self) -> None:
        """Raise the first error the server thread met (then forget them)."""
        if self.errors:
            first = self.errors[0]
            self.errors.clear()
            raise first

    def stop(self) -> None:
        """Stop serving."""
        self.running.stop()


# --- collection --------------------------------------------------------------------------------


class ExpectationFailed(Exception):
    """A user's outcome did not match the scenario's expectation."""

    def __init__(self, result: UserResult) -> None:
        super().__init__(f"{result.user}: {len(result.failures)} check(s) failed")
        self.result = result


def is_scenario_file(path: Path, patterns: Iterable[str]) -> bool:
    """Tell whether ``path`` matches a glob pattern (``*.scenario.yaml``, ``checks/*.yaml``)."""
    return any(path.match(pattern) for pattern in patterns)


SCENARIO_KEYS = ("name", "idp")
"""Top-level keys every scenario file has: a YAML file named on the command line that has them
is collected as a scenario whatever its name."""


def looks_like_scenario(path: Path) -> bool:
    """Tell whether the YAML file ``path`` is meant as a scenario: it has the top-level keys
    ``name`` and ``idp``, or it is not even valid YAML (the loader then says where)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return True
    except OSError:
        return False
    return isinstance(data, dict) and all(key in data for key in SCENARIO_KEYS)


UNCOVERED_ID = "uncovered"
"""Test id suffix of a user no expectation covers: ``file::carol[uncovered]``."""


class NotAScenario(pytest.File):
    """A YAML file named on the command line that is no scenario: one clear collection error."""

    def collect(self) -> Iterable[pytest.Item]:
        """Explain which files fedharness collects."""
        patterns = " ".join(self.config.getini("fedharness_scenarios"))
        raise self.CollectError(
            f"{self.path}: not a fedharness scenario (no top-level "
            f"{' and '.join(repr(k) for k in SCENARIO_KEYS)}); fedharness collects files "
            f"matching {patterns} (ini option fedharness_scenarios) and scenario files named "
            "on the command line"
        )


class ScenarioFile(pytest.File):
    """A scenario file: one item per user an expectation applies to, and one per user none
    covers (it fails when that user assumes any role)."""

    loaded: LoadedScenario | None = None
    _exchanger: Exchanger | None = None

    def collect(self) -> Iterable[ExpectationItem]:
        """Load the scenario; a mistake is one collection error, ``file:line: message``."""
        try:
            self.loaded = load_scenario(self.path)
            check_runnable(self.loaded)
        except IdpError as exc:
            raise self.CollectError(str(exc)) from None
        for user in (u.name for u in self.loaded.directory.users()):
            found = self.loaded.expectation_for(user)
            if found is None:
                yield ExpectationItem.from_parent(
                    self,
                    name=f"{user}[{UNCOVERED_ID}]",
                    user=user,
                    expect_key=None,
                    expectation=None,
                )
                continue
            key, expectation = found
            name = f"{user}[{key}]" if is_pattern(key) else user
            yield ExpectationItem.from_parent(
                self, name=name, user=user, expect_key=key, expectation=expectation
            )

    def exchanger(self) -> Exchanger:
        """Return the exchanger of this file's world, set up on first use in this process."""
        assert self.loaded is not None  # noqa: S101 - items exist only once collected
        mode: AwsMode = self.config.getoption("fedharness_aws")
        if mode == "moto":
            return self.config.stash[WORLDS_KEY].get(self.loaded).exchanger
        if self._exchanger is None:
            # An endpoint's world is provisioned once per process and lives until the session ends.
            stack = contextlib.ExitStack()
            self._exchanger = stack.enter_context(
                open_exchanger(
                    self.loaded, mode, endpoint_url=self.config.getoption("fedharness_endpoint_url")
                )
            )
            self.config.add_cleanup(stack.close)
        return self._exchanger


class ExpectationItem(pytest.Item):
    """One user's expectation of a scenario file; without one (``expect_key`` None) the user
    must assume no role."""

    def __init__(
        self,
        *,
        user: str,
        expect_key: str | None,
        expectation: Expectation | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user = user
        self.expect_key = expect_key
        self.expectation = expectation

    @property
    def scenario_file(self) -> ScenarioFile:
        """Return the file this item was collected from."""
        assert isinstance(self.parent, ScenarioFile)  # noqa: S101 - made only by ScenarioFile
        return self.parent

    def runtest(self) -> None:
        """Issue the user's assertion, exchange every role it offers, check the expectation."""
        loaded = self.scenario_file.loaded
        assert loaded is not None  # noqa: S101 - items exist only once collected
        exchanger = self.scenario_file.exchanger()
        if self.expect_key is None or self.expectation is None:
            result = run_uncovered(loaded, exchanger, self.user)
        else:
            result = run_user(loaded, exchanger, self.user, self.expect_key, self.expectation)
        if not result.passed:
            raise ExpectationFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        """Show the failed checks (or the scenario's error), not a Python traceback."""
        error = excinfo.value
        if isinstance(error, ExpectationFailed):
            return self._describe(error.result)
        if isinstance(error, USER_ERRORS):
            return f"{self.path}: the AWS world could not be set up: {error}"
        return super().repr_failure(excinfo, style)

    def _describe(self, result: UserResult) -> str:
        line = self._line()
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        if self.expect_key is None:
            lines = [f"{where}: no expectation covers {self.user}, who assumes a role"]
        else:
            lines = [f"{where}: expect.{self.expect_key} does not hold for {self.user}"]
        for check in result.failures:
            lines.append(f"  {check.kind}: " + check.message.replace("\n", "\n    "))
        if result.outcomes:
            lines.append("exchanges:")
            lines.extend(f"  {o.role_arn}: {o.describe()}" for o in result.outcomes)
        else:
            lines.append("exchanges: none (the assertion offers no role)")
        return "\n".join(lines)

    def _line(self) -> int | None:
        loaded = self.scenario_file.loaded
        if loaded is None:
            return None
        if self.expect_key is not None:
            return loaded.line_of("expect", self.expect_key)
        user_loc = ("directory", "users", self.user)
        return loaded.yaml.line_of(user_loc) if loaded.yaml.has(user_loc) else None

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        """Point at the expectation's line in the scenario file."""
        line = self._line()
        return self.path, (line - 1 if line is not None else None), self.name
