"""Load a scenario file: schema, cross-references, keys; mistakes as ``file:line: message``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from idp.directory import Directory, DirectoryError
from idp.errors import IdpError
from idp.provider import IdentityProvider
from idp.yamlfile import ConfigError, LoadedYaml, load_yaml, validate
from scenarios.model import Expectation, Scenario, is_pattern, pattern_matches


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its IdP and directory ready to use."""

    path: Path
    scenario: Scenario
    yaml: LoadedYaml
    provider: IdentityProvider
    directory: Directory

    @property
    def name(self) -> str:
        """Return the scenario's name."""
        return self.scenario.name

    def expectation_for(self, user: str) -> tuple[str, Expectation] | None:
        """Return the ``expect`` key and expectation that apply to ``user``, most specific first."""
        expect = self.scenario.expect
        if user in expect:
            return user, expect[user]
        groups = self.directory.groups_of(user)
        for key, expectation in expect.items():
            if key.startswith("group:") and pattern_matches(key, user, groups):
                return key, expectation
        for key, expectation in expect.items():
            if is_pattern(key) and not key.startswith("group:") and pattern_matches(
                    key, user, groups):
                return key, expectation
        return None

    def expected_users(self) -> list[str]:
        """Return every directory user an expectation applies to, in directory order."""
        return [u.name for u in self.directory.users() if self.expectation_for(u.name)]

    def line_of(self, *location: str | int) -> int | None:
        """Return the line of a location in the file (``"expect", "alice"``)."""
        return self.yaml.line_of(location)


def load_scenario(path: Path) -> LoadedScenario:
    """Read and check a scenario file; raise ConfigError (``file:line: message``) when wrong."""
    loaded = load_yaml(path)
    scenario = validate(Scenario, loaded)
    base_dir = path.parent
    try:
        directory = Directory.from_config(scenario.directory, base_dir)
    except DirectoryError as exc:
        if exc.path is not None:
            raise
        raise ConfigError(path, loaded.line_of(("directory",)), exc.message) from None
    try:
        provider = IdentityProvider(scenario.idp, directory, base_dir=base_dir)
    except IdpError as exc:
        raise ConfigError(path, loaded.line_of(("idp", "signing")), exc.message) from None
    result = LoadedScenario(path, scenario, loaded, provider, directory)
    _check_expectations(result)
    return result


def _check_expectations(loaded: LoadedScenario) -> None:
    users = [u.name for u in loaded.directory.users()]
    groups = {g.name for g in loaded.directory.groups()}
    declared_roles = set(loaded.scenario.aws.role_arns())
    for key, expectation in loaded.scenario.expect.items():
        line = loaded.line_of("expect", key)
        if key.startswith("group:"):
            group = key[len("group:"):]
            if group not in groups:
                raise ConfigError(loaded.path, line, f"expect.{key}: unknown group {group!r}"
                                  + _suggest(group, groups))
        elif is_pattern(key):
            if not any(pattern_matches(key, user, ()) for user in users):
                raise ConfigError(loaded.path, line,
                                  f"expect.{key}: the pattern matches no user of the directory")
        elif key not in users:
            raise ConfigError(loaded.path, line,
                              f"expect.{key}: unknown user {key!r}" + _suggest(key, users))
        _check_roles(loaded, key, expectation, declared_roles)


def _check_roles(loaded: LoadedScenario, key: str, expectation: Expectation,
                 declared: set[str]) -> None:
    if not declared:
        return  # a scenario for live mode may leave the AWS world to the account
    references: list[tuple[tuple[str | int, ...], str]] = [
        (("roles", i), arn) for i, arn in enumerate(expectation.roles or [])]
    if expectation.error is not None and expectation.error.role is not None:
        references.append((("error", "role"), expectation.error.role))
    for field_name in ("can", "cannot"):
        for i, check in enumerate(getattr(expectation, field_name)):
            if check.role is not None:
                references.append(((field_name, i, "role"), check.role))
    for location, arn in references:
        if arn not in declared:
            raise ConfigError(
                loaded.path, loaded.line_of("expect", key, *location),
                f"expect.{key}: role {arn} is not declared under aws.accounts"
                + _suggest(arn, declared))


def _suggest(word: str, known: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
