"""Load a scenario file: schema, cross-references, keys; mistakes as ``file:line: message``.

Everything a run would otherwise trip over later without a line (a file named by the scenario, a
mapping table entry, an attribute template, a user lacking a field the IdP needs) is checked here,
so ``fedharness run`` exits 2 with the line before calling STS.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from idp.config import IdpSettings, KeyFiles
from idp.directory import (
    Directory,
    DirectoryConfig,
    DirectoryError,
    UnreadableDirectoryFileError,
    UnsupportedDirectoryFileError,
    User,
)
from idp.errors import IdpError, KeyLoadError
from idp.mapping.adfs_parser import ClaimRuleSyntaxError
from idp.provider import IdentityProvider
from idp.templates import USER_FIELDS, TemplateError, render
from idp.yamlfile import ConfigError, LoadedYaml, SchemaError, format_location, load_yaml, validate
from scenarios.model import (
    Expectation,
    Scenario,
    is_pattern,
    pattern_matches,
    role_arn_problem,
)
from sp_fixtures.aws.account import AccountError, AwsWorld
from sp_fixtures.aws.actions import UnknownActionError, expand

Loc = tuple[Hashable, ...]


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

    def matching_keys(self, user: str) -> list[str]:
        """Return the ``expect`` keys of the most specific kind that apply to ``user``.

        The user's own key alone when there is one; else every ``group:NAME`` key of a group the
        user is in (transitively); else every glob key matching the name; all in file order. The
        loader refuses a file where two keys of this list hold different expectations.
        """
        expect = self.scenario.expect
        if user in expect:
            return [user]
        groups = self.directory.groups_of(user)
        group_keys = [
            key for key in expect if key.startswith("group:") and pattern_matches(key, user, groups)
        ]
        if group_keys:
            return group_keys
        return [
            key
            for key in expect
            if is_pattern(key) and not key.startswith("group:") and pattern_matches(key, user, ())
        ]

    def expectation_for(self, user: str) -> tuple[str, Expectation] | None:
        """Return the ``expect`` key and expectation that apply to ``user``, most specific first.

        When several keys of the same kind apply, they hold the same expectation (the loader
        refuses them otherwise); the first in file order is named.
        """
        keys = self.matching_keys(user)
        return (keys[0], self.scenario.expect[keys[0]]) if keys else None

    def expected_users(self) -> list[str]:
        """Return every directory user an expectation applies to, in directory order."""
        return [u.name for u in self.directory.users() if self.expectation_for(u.name)]

    def uncovered_users(self) -> list[str]:
        """Return every directory user no expectation applies to, in directory order.

        A run still issues their assertions and exchanges every role offered: any role they
        assume fails the run.
        """
        return [u.name for u in self.directory.users() if not self.matching_keys(u.name)]

    def lint(self) -> list[str]:
        """Return the mapping lint warnings for this scenario's IdP configuration and world."""
        from idp.mapping.lint import lint

        mapping = self.scenario.idp.mapping
        chosen = mapping.chosen()
        if not chosen:
            return []
        world = [*self.scenario.aws.provider_arns(), *self.scenario.aws.role_arns()]
        warnings = lint(
            getattr(mapping, chosen[0]),
            chosen[0],
            self.directory,
            world or None,
            engine=self.provider.engine,
        )
        return [f"{w.code}: {w.message}" + (f" ({w.where})" if w.where else "") for w in warnings]

    def line_of(self, *location: str | int) -> int | None:
        """Return the line of a location in the file (``"expect", "alice"``)."""
        return self.yaml.line_of(location)


def load_scenario(path: Path) -> LoadedScenario:
    """Read and check a scenario file; raise ConfigError (``file:line: message``) when wrong."""
    loaded = load_yaml(path)
    if loaded.data is None:
        raise SchemaError(path, 1, "the file is empty; a scenario needs at least 'name' and 'idp'")
    scenario = validate(Scenario, loaded)
    checker = _Checker(loaded)
    directory = checker.directory(scenario.directory)
    checker.idp_files(scenario.idp)
    try:
        provider = IdentityProvider(scenario.idp, directory, base_dir=checker.base_dir)
    except KeyLoadError as exc:
        raise checker.key_error(scenario.idp, exc) from None
    except ClaimRuleSyntaxError as exc:
        raise claim_rule_error(loaded, path, exc) from None
    except IdpError as exc:
        raise checker.error(("idp",), exc.message) from None
    checker.mapping_table(scenario.idp)
    checker.templates(scenario.idp)
    checker.aws_files(scenario.aws)
    result = LoadedScenario(path, scenario, loaded, provider, directory)
    _check_expectations(result, checker)
    _check_overlaps(result)
    checker.issuable(result, result.expected_users())
    return result


def check_runnable(loaded: LoadedScenario) -> None:
    """Refuse (ConfigError, ``file:line``) a scenario that a run could not judge.

    A run needs expectations: a file without ``expect:`` (or with an empty one) would check
    nobody and pass. Every directory user is issued an assertion in a run, including those no
    expectation covers (any role they assume fails the run), so each must have what the IdP
    needs. Other commands (``plan``, ``explain``, ``demo`` …) accept such files.
    """
    if not loaded.scenario.expect:
        line = loaded.line_of("expect") if loaded.yaml.has(("expect",)) else 1
        raise ConfigError(
            loaded.path,
            line,
            "the scenario has no expectations, so a run would check nobody: add 'expect:' "
            "with the roles each user must get (keys: a user, 'group:NAME' or a pattern such "
            "as '*'; e.g. expect: {alice: {roles: [ARN]}, '*': {roles: []}})",
        )
    _Checker(loaded.yaml).issuable(loaded, loaded.uncovered_users(), covered=False)


class _Checker:
    """The checks that need the file's lines; each raises ConfigError at the right one."""

    def __init__(self, loaded: LoadedYaml) -> None:
        self.loaded = loaded
        self.base_dir = loaded.path.parent

    def error(self, loc: Loc, message: str) -> ConfigError:
        """Return a ConfigError at ``loc`` whose message starts with the spelled-out location."""
        where = format_location(self.loaded.data, loc)
        return ConfigError(
            self.loaded.path, self.loaded.line_of(loc), f"{where}: {message}" if where else message
        )

    def file(self, loc: Loc, name: Path | str) -> Path:
        """Return the file ``name`` (relative to the scenario) or raise when it is not one."""
        path = self.base_dir / name
        if path.is_dir():
            raise self.error(loc, f"{name} is a folder, not a file")
        if not path.is_file():
            hint = ""
            if loc[:2] == ("idp", "signing"):
                hint = "; `fedharness certs generate --out DIR` makes a key pair"
            raise self.error(
                loc,
                f"no such file: {name} (looked for {path.resolve()}: paths are relative to the "
                f"scenario file{hint})",
            )
        return path

    def read(self, loc: Loc, name: Path | str) -> bytes:
        """Return the bytes of the file ``name``, or raise at ``loc``."""
        try:
            return self.file(loc, name).read_bytes()
        except OSError as exc:
            raise self.error(loc, f"cannot read {name}: {exc.strerror or exc}") from None

    # --- directory and IdP ------------------------------------------------------------------

    def directory(self, config: DirectoryConfig) -> Directory:
        """Build the directory; a directory file that cannot be opened is this file's mistake."""
        file_path = None if config.file is None else self.file(("directory", "file"), config.file)
        try:
            return Directory.from_config(config, self.base_dir)
        except (UnreadableDirectoryFileError, UnsupportedDirectoryFileError) as exc:
            if exc.path != file_path or exc.line is not None:
                raise
            raise self.error(("directory", "file"), exc.message) from None
        except DirectoryError as exc:
            if exc.path is not None:
                raise  # a mistake inside the directory file, at its own line
            raise self.error(("directory",), exc.message) from None

    def idp_files(self, settings: IdpSettings) -> None:
        """Check that every key, certificate and encryption certificate file exists."""
        for loc, files in self._key_files(settings):
            self.file((*loc, "key"), files.key)
            self.file((*loc, "cert"), files.cert)
        for sp_name, sp in settings.service_providers.items():
            if sp.encrypt is None:
                continue
            loc = ("idp", "service_providers", sp_name, "encrypt", "cert")
            try:
                x509.load_pem_x509_certificate(self.read(loc, sp.encrypt.cert))
            except ValueError:
                raise self.error(loc, f"{sp.encrypt.cert} is not a PEM certificate") from None

    def key_error(self, settings: IdpSettings, exc: KeyLoadError) -> ConfigError:
        """Place a key-loading problem at the key, certificate or password it is about."""
        for loc, files in self._key_files(settings):
            prefix = f"{self.base_dir / files.key}: "
            if not exc.message.startswith(prefix):
                continue
            problem = exc.message.removeprefix(prefix)
            if "certificate" in problem:
                return self.error((*loc, "cert"), f"{problem} ({files.cert} and {files.key})")
            if "password" in problem and files.password is not None:
                return self.error((*loc, "password"), problem)
            return self.error((*loc, "key"), f"{files.key}: {problem}")
        return self.error(("idp", "signing"), exc.message)

    @staticmethod
    def _key_files(settings: IdpSettings) -> Iterator[tuple[Loc, KeyFiles]]:
        yield ("idp", "signing"), settings.signing
        if settings.signing.next_key is not None:
            yield ("idp", "signing", "next_key"), settings.signing.next_key

    def mapping_table(self, settings: IdpSettings) -> None:
        """Check the explicit table's entries: a role ARN, or a role ARN and a provider ARN.

        The engine itself only refuses a bad entry when a user reaches it, at run time.
        """
        explicit = settings.mapping.explicit
        if explicit is None:
            return
        for table, rows in (("groups", explicit.groups), ("users", explicit.users)):
            for owner, entries in rows.items():
                for index, entry in enumerate(entries):
                    problem = None if "," in entry else role_arn_problem(entry)
                    if problem is not None:
                        raise self.error(
                            ("idp", "mapping", "explicit", table, owner, index),
                            f"not a role ARN: {entry!r}: {problem} "
                            "(or give '<role ARN>,<saml-provider ARN>')",
                        )

    def templates(self, settings: IdpSettings) -> None:
        """Check that every attribute template names only fields a user can have."""
        probe_fields: dict[str, Any] = {field: "x" for field in USER_FIELDS if field != "name"}
        for loc, template in _templates(settings):
            attributes = {name: ("x",) for name in re.findall(r"\{attr:([^{}]+)\}", template)}
            probe = dataclasses.replace(User(name="x", attributes=attributes), **probe_fields)
            try:
                render(template, probe)
            except TemplateError as exc:
                raise self.error(loc, exc.message) from None

    def issuable(
        self, scenario: LoadedScenario, names: Iterable[str], *, covered: bool = True
    ) -> None:
        """Check that each named user has what the IdP needs to issue an assertion for them."""
        settings = scenario.scenario.idp
        templates = list(_templates(settings))
        why = (
            ""
            if covered
            else " (no expectation covers this user, but a run issues every user's assertion)"
        )
        for name in names:
            user = scenario.directory.user(name)
            user_loc: Loc = ("directory", "users", name)
            try:
                scenario.provider.name_id_for(user)
            except IdpError as exc:
                loc = user_loc if self.loaded.has(user_loc) else ("idp", "name_id", "source")
                raise self.error(loc, f"{exc.message}, from idp.name_id.source{why}") from None
            for template_loc, template in templates:
                try:
                    render(template, user)
                except TemplateError as exc:
                    where = format_location(self.loaded.data, template_loc)
                    loc = user_loc if self.loaded.has(user_loc) else template_loc
                    raise self.error(loc, f"{exc.message}, from {where}{why}") from None

    # --- AWS world ------------------------------------------------------------------------

    def aws_files(self, world: AwsWorld) -> None:
        """Check the metadata and private-key files the SAML providers name."""
        for account_id, account in world.accounts.items():
            for name, spec in account.saml_providers.items():
                loc: Loc = ("aws", "accounts", account_id, "saml_providers", name)
                if spec.metadata != "from-idp":
                    self._metadata((*loc, "metadata"), spec.metadata)
                keys = spec.encryption.private_keys if spec.encryption else []
                for index, key in enumerate(keys):
                    key_loc = (*loc, "encryption", "private_keys", index)
                    try:
                        serialization.load_pem_private_key(self.read(key_loc, key), None)
                    except (TypeError, ValueError):
                        raise self.error(
                            key_loc, f"{key} is not an unencrypted PEM private key"
                        ) from None

    def _metadata(self, loc: Loc, name: str) -> None:
        from sp_fixtures.aws.provision import decode_metadata

        try:
            decode_metadata(self.read(loc, name), name)
        except AccountError as exc:
            raise self.error(loc, exc.message) from None


def _templates(settings: IdpSettings) -> Iterator[tuple[Loc, str]]:
    """Yield the location and text of every attribute value template."""
    config = settings.attributes
    loc: Loc = ("idp", "attributes")
    if config.role_session_name is not None:
        yield (*loc, "role_session_name"), config.role_session_name
    for key, template in config.principal_tags.items():
        yield (*loc, "principal_tags", key), template
    if config.source_identity is not None:
        yield (*loc, "source_identity"), config.source_identity
    for name, templates in config.extra.items():
        if isinstance(templates, str):
            yield (*loc, "extra", name), templates
        else:
            for index, template in enumerate(templates):
                yield (*loc, "extra", name, index), template


def _check_expectations(loaded: LoadedScenario, checker: _Checker) -> None:
    users = [u.name for u in loaded.directory.users()]
    known_users = set(users)
    groups = {g.name for g in loaded.directory.groups()}
    declared_roles = set(loaded.scenario.aws.role_arns())
    for key, expectation in loaded.scenario.expect.items():
        loc = ("expect", key)
        if key.startswith("group:"):
            group = key[len("group:") :]
            if group not in groups:
                raise checker.error(loc, f"unknown group {group!r}" + _suggest(group, groups))
            if not loaded.directory.members_of(group):
                raise checker.error(
                    loc,
                    f"the group {group!r} has no members (directly or through nested groups), "
                    "so this entry checks nobody",
                )
        elif is_pattern(key):
            if not any(pattern_matches(key, user, ()) for user in users):
                raise checker.error(loc, "the pattern matches no user of the directory")
        elif key not in known_users:
            raise checker.error(loc, f"unknown user {key!r}" + _suggest(key, users))
        _check_roles(checker, loc, expectation, declared_roles)
        _check_actions(checker, loc, expectation)


def _check_overlaps(loaded: LoadedScenario) -> None:
    """Refuse a user whom two ``group:`` keys (or two glob keys) give different expectations.

    The first in file order would otherwise win, and swapping two lines would flip a verdict.
    """
    expect = loaded.scenario.expect
    for user in loaded.directory.users():
        keys = loaded.matching_keys(user.name)
        first = keys[0] if keys else None
        for other in keys[1:]:
            assert first is not None  # noqa: S101 - keys is not empty here
            if expect[other] == expect[first]:
                continue
            first_line = loaded.line_of("expect", first)
            line = loaded.line_of("expect", other)
            raise ConfigError(
                loaded.path,
                line,
                f"{user.name} matches expect.{first} (line {first_line}) and expect.{other} "
                f"(line {line}); give {user.name} their own "
                "entry or make them agree",
            )


def _check_roles(checker: _Checker, at: Loc, expectation: Expectation, declared: set[str]) -> None:
    if not declared:
        return  # a scenario for live mode may leave the AWS world to the account
    references: list[tuple[Loc, str]] = [
        (("roles", i), arn) for i, arn in enumerate(expectation.roles or [])
    ]
    if expectation.error is not None and expectation.error.role is not None:
        references.append((("error", "role"), expectation.error.role))
    if expectation.session is not None and expectation.session.role is not None:
        references.append((("session", "role"), expectation.session.role))
    for field_name in ("can", "cannot"):
        for i, check in enumerate(getattr(expectation, field_name)):
            if check.role is not None:
                references.append(((field_name, i, "role"), check.role))
    for location, arn in references:
        if arn not in declared:
            raise checker.error(
                (*at, *location),
                f"role {arn} is not declared under aws.accounts" + suggest_role(arn, declared),
            )


def _check_actions(checker: _Checker, at: Loc, expectation: Expectation) -> None:
    """Refuse a can/cannot action that names no documented AWS action (a typo would pass)."""
    for field_name in ("can", "cannot"):
        for i, check in enumerate(getattr(expectation, field_name)):
            try:
                expand(check.action)
            except UnknownActionError as exc:
                raise checker.error((*at, field_name, i, "action"), exc.message) from None


def suggest_role(arn: str, declared: Iterable[str]) -> str:
    """Return `` (did you mean …?)`` with the declared role ARNs closest to ``arn``, or "".

    ARNs share a long prefix, so whole ARNs all look alike: the role names are compared, and
    for the same name in another account (a mistyped account id) that ARN is suggested.
    """
    by_name: dict[str, list[str]] = {}
    for candidate in sorted(declared):
        by_name.setdefault(candidate.rsplit("/", 1)[-1], []).append(candidate)
    name = arn.rsplit("/", 1)[-1]
    close = difflib.get_close_matches(name, list(by_name), n=2, cutoff=0.6)
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    # Same account first, then the rest; at most two.
    found = sorted(
        (candidate for n in close for candidate in by_name[n]),
        key=lambda candidate: candidate.split(":")[4] != account,
    )[:2]
    return f" (did you mean {' or '.join(repr(c) for c in found)}?)" if found else ""


def _suggest(word: str, known: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def claim_rule_error(loaded: LoadedYaml, path: Path, exc: ClaimRuleSyntaxError) -> ConfigError:
    """Point a syntax error in inline ADFS rules at its line in the scenario file."""
    location = ("idp", "mapping", "adfs", "rules")
    if not loaded.has(location):
        return ConfigError(path, loaded.line_of(("idp", "mapping", "adfs")), exc.message)
    key_line = loaded.line_of(location) or 1
    text = loaded.at(location)
    # A block scalar (rules: |) starts on the line after the key; a plain string on the key's.
    first = key_line + 1 if isinstance(text, str) and "\n" in text else key_line
    return ConfigError(
        path, first + exc.line - 1, f"idp.mapping.adfs.rules:{exc.line}:{exc.column}: {exc.reason}"
    )
