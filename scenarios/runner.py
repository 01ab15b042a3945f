"""Run a scenario: issue each user's real assertion, exchange every role it offers, compare.

A role a user was not expected to get is a failure as much as a missing one. Every directory user
is issued and exchanged, also those no expectation covers: any role one of them assumes fails the
run. An expectation without ``roles:`` allows only the roles it names (``error.role``,
``session.role``, ``can``/``cannot`` roles); any other role the user assumes fails it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from idp.saml.constants import PRINCIPAL_TAG_PREFIX, AwsAttribute
from scenarios.exchange import ExchangeOutcome, Exchanger, utcnow
from scenarios.loader import LoadedScenario, check_runnable
from scenarios.model import Expectation, PermissionCheck, SessionCheck
from sp_fixtures.aws.account import RoleSpec
from sp_fixtures.aws.actions import expand_over
from sp_fixtures.aws.policy import Policy, Request, evaluate, parse_policy


class Status(StrEnum):
    """How one check came out."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One comparison between what was expected and what happened."""

    kind: str
    """``roles``, ``error``, ``session``, ``permission`` or ``uncovered``."""
    status: Status
    message: str


@dataclass(frozen=True)
class UserResult:
    """Everything that happened for one user."""

    user: str
    expect_key: str | None
    """The ``expect`` key that applied; None when no expectation covers the user."""
    offered: tuple[tuple[str, str], ...]
    """(role ARN, provider ARN) pairs in the user's assertion, in order."""
    outcomes: tuple[ExchangeOutcome, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """Return whether every check passed."""
        return all(check.status is Status.PASS for check in self.checks)

    @property
    def covered(self) -> bool:
        """Return whether an expectation applies to the user."""
        return self.expect_key is not None

    @property
    def assumed(self) -> tuple[str, ...]:
        """Return the roles the user got credentials for."""
        return tuple(o.role_arn for o in self.outcomes if o.ok)

    @property
    def failures(self) -> tuple[Check, ...]:
        """Return the failed checks."""
        return tuple(c for c in self.checks if c.status is Status.FAIL)


@dataclass(frozen=True)
class ScenarioResult:
    """The outcome of one scenario file."""

    name: str
    path: str
    mode: str
    users: tuple[UserResult, ...]
    """Every covered user, and every uncovered user who assumed a role (failed), in directory
    order."""
    unexpected_users: tuple[str, ...] = ()
    """Directory users no expectation covers: those who assume a role are also in ``users``
    (failed); the others are a note."""
    findings: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    """Mapping lint: configurations that make a known mistake possible."""

    @property
    def passed(self) -> bool:
        """Return whether every user's checks passed."""
        return all(user.passed for user in self.users)

    @property
    def uncovered_without_roles(self) -> tuple[str, ...]:
        """Return the uncovered users who assumed no role (a note, not a failure)."""
        failed = {user.user for user in self.users if not user.covered}
        return tuple(name for name in self.unexpected_users if name not in failed)


def offered_pairs(role_values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Return (role ARN, provider ARN) for each Role value, in either order."""
    pairs: list[tuple[str, str]] = []
    for value in role_values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            continue
        role, provider = (parts[0], parts[1]) if ":role/" in parts[0] else (parts[1], parts[0])
        if (role, provider) not in pairs:
            pairs.append((role, provider))
    return tuple(pairs)


@dataclass(frozen=True)
class _Issued:
    """A user's assertion and what it carries."""

    started: dt.datetime
    assertion: str
    session_tags: dict[str, str]
    pairs: tuple[tuple[str, str], ...]


def _issue(loaded: LoadedScenario, user: str) -> _Issued:
    started = utcnow()
    issued = loaded.provider.issue(user, now=started)
    session_tags = {
        a.name[len(PRINCIPAL_TAG_PREFIX) :]: a.values[0]
        for a in issued.mapping.attributes
        if a.name.startswith(PRINCIPAL_TAG_PREFIX) and a.values
    }
    pairs = offered_pairs(issued.mapping.values(AwsAttribute.ROLE))
    return _Issued(started, issued.saml_response, session_tags, pairs)


def run_user(
    loaded: LoadedScenario,
    exchanger: Exchanger,
    user: str,
    expect_key: str,
    expectation: Expectation,
) -> UserResult:
    """Issue ``user``'s assertion, exchange what it offers, and check the expectation."""
    issued = _issue(loaded, user)
    tags = issued.session_tags
    outcomes = [
        exchanger.exchange(role, provider, issued.assertion) for role, provider in issued.pairs
    ]
    if expectation.error is not None and expectation.error.role is not None:
        wanted = expectation.error.role
        if all(o.role_arn != wanted for o in outcomes):
            provider = _provider_for(loaded, wanted, issued.pairs)
            outcomes.append(exchanger.exchange(wanted, provider, issued.assertion))
    checks: list[Check] = []
    if expectation.roles is not None:
        checks.append(_check_roles(expectation.roles, outcomes))
    else:
        checks.append(_check_named_roles_only(expectation, outcomes))
    if expectation.error is not None:
        checks.extend(_check_error(expectation, outcomes))
    if expectation.session is not None:
        checks.extend(_check_session(expectation.session, outcomes, issued.started, tags))
    for permission in expectation.can:
        checks.extend(_check_permission(loaded, permission, outcomes, tags, allowed=True))
    for permission in expectation.cannot:
        checks.extend(_check_permission(loaded, permission, outcomes, tags, allowed=False))
    return UserResult(user, expect_key, issued.pairs, tuple(outcomes), tuple(checks))


def run_uncovered(loaded: LoadedScenario, exchanger: Exchanger, user: str) -> UserResult:
    """Issue the assertion of a user no expectation covers and exchange every role it offers.

    Fails when the user assumes any role: nobody said they should have it.
    """
    issued = _issue(loaded, user)
    outcomes = tuple(
        exchanger.exchange(role, provider, issued.assertion) for role, provider in issued.pairs
    )
    assumed = [o.role_arn for o in outcomes if o.ok]
    if assumed:
        check = Check(
            "uncovered",
            Status.FAIL,
            f"no expectation covers {user}, who assumes {', '.join(assumed)}",
        )
    else:
        check = Check(
            "uncovered", Status.PASS, f"no expectation covers {user}, who assumes no role"
        )
    return UserResult(user, None, issued.pairs, outcomes, (check,))


def run_users(
    loaded: LoadedScenario,
    exchanger: Exchanger,
    users: Iterable[str],
    *,
    progress: Callable[[str], None] | None = None,
) -> list[UserResult]:
    """Run each of ``users``: their expectation, or as uncovered users when none applies."""
    results: list[UserResult] = []
    for user in users:
        found = loaded.expectation_for(user)
        if found is None:
            results.append(run_uncovered(loaded, exchanger, user))
        else:
            results.append(run_user(loaded, exchanger, user, *found))
        if progress is not None:
            progress(user)
    return results


def run_scenario(
    loaded: LoadedScenario,
    exchanger: Exchanger,
    *,
    users: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run ``loaded`` (every directory user, or only ``users``) against ``exchanger``.

    A whole run first refuses a scenario it could not judge (no expectations): ConfigError.
    """
    if users is None:
        check_runnable(loaded)
        names = [u.name for u in loaded.directory.users()]
    else:
        names = list(users)
    results = run_users(loaded, exchanger, names, progress=progress)
    return scenario_result(loaded, exchanger.mode, results)


def scenario_result(
    loaded: LoadedScenario, mode: str, results: Iterable[UserResult]
) -> ScenarioResult:
    """Assemble a scenario's result from its users' (in directory order).

    Uncovered users who assumed no role are only named in ``unexpected_users``; those who did
    are failed users like any other.
    """
    ordered = tuple(results)
    shown = tuple(r for r in ordered if r.covered or not r.passed)
    unexpected = tuple(r.user for r in ordered if not r.covered)
    findings = tuple(o.finding for r in ordered for o in r.outcomes if o.finding)
    return ScenarioResult(
        loaded.name,
        str(loaded.path),
        mode,
        shown,
        unexpected,
        findings,
        tuple(loaded.lint()),
    )


def _provider_for(loaded: LoadedScenario, role_arn: str, pairs: tuple[tuple[str, str], ...]) -> str:
    account = role_arn.split(":")[4]
    for _, provider in pairs:
        if provider.split(":")[4] == account:
            return provider
    declared = loaded.scenario.aws.accounts.get(account)
    name = next(iter(declared.saml_providers), "fedharness") if declared else "fedharness"
    return f"arn:aws:iam::{account}:saml-provider/{name}"


def _check_roles(expected: list[str], outcomes: list[ExchangeOutcome]) -> Check:
    got = {o.role_arn for o in outcomes if o.ok}
    want = set(expected)
    if got == want:
        shown = ", ".join(sorted(got)) or "no role"
        return Check("roles", Status.PASS, f"gets exactly {shown}")
    problems: list[str] = []
    for role in sorted(got - want):
        problems.append(f"unexpected role {role}")
    for role in sorted(want - got):
        refused = next((o for o in outcomes if o.role_arn == role), None)
        why = (
            f" (refused: {refused.describe()})"
            if refused is not None
            else " (not offered by the IdP)"
        )
        problems.append(f"missing role {role}{why}")
    return Check("roles", Status.FAIL, "\n".join(problems))


def named_roles(expectation: Expectation) -> set[str]:
    """Return the roles an expectation names outside ``roles:``.

    ``error.role``, ``session.role`` and the ``role`` of each ``can`` / ``cannot`` check.
    """
    named: set[str] = set()
    if expectation.error is not None and expectation.error.role is not None:
        named.add(expectation.error.role)
    if expectation.session is not None and expectation.session.role is not None:
        named.add(expectation.session.role)
    named.update(c.role for c in (*expectation.can, *expectation.cannot) if c.role is not None)
    return named


def _check_named_roles_only(expectation: Expectation, outcomes: list[ExchangeOutcome]) -> Check:
    """Without ``roles:``, any role assumed that the expectation does not name is unexpected."""
    named = named_roles(expectation)
    unexpected = sorted({o.role_arn for o in outcomes if o.ok} - named)
    if unexpected:
        return Check(
            "roles",
            Status.FAIL,
            "\n".join(
                f"unexpected role {role} (not named; the expectation has no 'roles:')"
                for role in unexpected
            ),
        )
    return Check("roles", Status.PASS, "assumes no role the expectation does not name")


def _check_error(expectation: Expectation, outcomes: list[ExchangeOutcome]) -> list[Check]:
    expected = expectation.error
    assert expected is not None  # noqa: S101
    targets = [o for o in outcomes if expected.role is None or o.role_arn == expected.role]
    if not targets:
        return [
            Check(
                "error",
                Status.FAIL,
                f"expected {expected.code} but the assertion offers no role to exchange; "
                "name one with error.role",
            )
        ]
    checks: list[Check] = []
    for outcome in targets:
        if outcome.ok:
            checks.append(
                Check(
                    "error",
                    Status.FAIL,
                    f"expected {expected.code} for {outcome.role_arn} but got credentials",
                )
            )
        elif outcome.error_code != expected.code:
            checks.append(
                Check(
                    "error",
                    Status.FAIL,
                    f"expected {expected.code} for {outcome.role_arn} but got {outcome.describe()}",
                )
            )
        elif expected.message and expected.message not in (outcome.error_message or ""):
            checks.append(
                Check(
                    "error",
                    Status.FAIL,
                    f"{outcome.role_arn}: {expected.code} as expected, but the "
                    f"message {outcome.error_message!r} lacks {expected.message!r}",
                )
            )
        else:
            checks.append(Check("error", Status.PASS, f"{outcome.role_arn}: {outcome.describe()}"))
    return checks


def _sessions(role: str | None, outcomes: list[ExchangeOutcome]) -> list[ExchangeOutcome]:
    return [o for o in outcomes if o.ok and (role is None or o.role_arn == role)]


def _check_session(
    expected: SessionCheck,
    outcomes: list[ExchangeOutcome],
    started: dt.datetime,
    session_tags: dict[str, str],
) -> list[Check]:
    sessions = _sessions(expected.role, outcomes)
    if not sessions:
        return [
            Check(
                "session",
                Status.FAIL,
                "no session to check: no role was assumed"
                + (f" ({expected.role})" if expected.role else ""),
            )
        ]
    checks: list[Check] = []
    for outcome in sessions:
        answer = outcome.answer or {}
        arn = str(answer["AssumedRoleUser"]["Arn"])
        problems: list[str] = []
        name = arn.rsplit("/", 1)[1]
        if expected.name is not None and name != expected.name:
            problems.append(f"session name {name!r}, expected {expected.name!r}")
        if expected.duration is not None:
            duration = _duration(answer, started)
            if duration is None or abs(duration - expected.duration) > 5:
                problems.append(f"duration {duration} s, expected {expected.duration} s")
        if (
            expected.source_identity is not None
            and answer.get("SourceIdentity") != expected.source_identity
        ):
            problems.append(
                f"source identity {answer.get('SourceIdentity')!r}, expected "
                f"{expected.source_identity!r}"
            )
        if expected.tags is not None:
            if session_tags != expected.tags:
                problems.append(f"session tags {session_tags}, expected {expected.tags}")
        status = Status.FAIL if problems else Status.PASS
        checks.append(
            Check(
                "session",
                status,
                f"{outcome.role_arn}: " + ("; ".join(problems) or "session as expected"),
            )
        )
    return checks


def _duration(answer: Mapping[str, Any], started: dt.datetime) -> int | None:
    expiration = answer.get("Credentials", {}).get("Expiration")
    if not isinstance(expiration, dt.datetime):
        return None
    return int((expiration - started.replace(microsecond=0)).total_seconds())


_ACTIONS_SHOWN = 3
"""Actions named in a failed pattern check's message."""


def _check_permission(
    loaded: LoadedScenario,
    permission: PermissionCheck,
    outcomes: list[ExchangeOutcome],
    session_tags: dict[str, str],
    *,
    allowed: bool,
) -> list[Check]:
    verb = "can" if allowed else "cannot"
    sessions = _sessions(permission.role, outcomes)
    if not sessions:
        # A user without a session (of that role) cannot act with it: `cannot` holds.
        which = f"{permission.role} not assumed" if permission.role else "no role assumed"
        return [
            Check(
                "permission",
                Status.FAIL if allowed else Status.PASS,
                f"{verb} {permission.action} on {permission.resource}: {which}",
            )
        ]
    checks: list[Check] = []
    # `cannot` leaves open what it does not name: the resource when it gives none, and the
    # condition keys its context does not hold (Decision.may_allow).
    any_resource = permission.resource == "*"
    for outcome in sessions:
        policies = role_permission_policies(loaded, outcome.role_arn)
        actions = _actions_named(permission.action, policies)
        context: dict[str, Any] = dict(permission.context)
        given = {key.lower() for key in context}
        for key, value in principal_tags(loaded, outcome.role_arn, session_tags).items():
            if f"aws:principaltag/{key.lower()}" not in given:
                context[f"aws:PrincipalTag/{key}"] = value
        # `can` holds when every action named is allowed, `cannot` when none may be; a few
        # actions against the expectation are evidence enough (`*` names over 20,000).
        wrong: list[tuple[str, str]] = []
        last = ""
        for action in actions:
            request = Request(action=action, resource=permission.resource, context=context)
            decision = evaluate(policies, request)
            if allowed:
                last = decision.describe()
                failed = not decision.allowed
            else:
                possible = decision.may_allow(any_resource=any_resource)
                last = possible.describe(action) if possible else decision.describe()
                failed = possible is not None
            if failed:
                wrong.append((action, last))
                if len(wrong) > _ACTIONS_SHOWN:
                    break
        subject = f"{outcome.role_arn} {verb} {permission.action} on {permission.resource}"
        if len(actions) == 1:
            evidence = last
        elif not wrong:
            evidence = f"{len(actions)} actions match, {'all' if allowed else 'none'} allowed"
        else:
            names = ", ".join(action for action, _ in wrong[:_ACTIONS_SHOWN])
            more = " and more" if len(wrong) > _ACTIONS_SHOWN else ""
            against = "denied" if allowed else "not denied"
            evidence = f"{len(actions)} actions match; {against}: {names}{more} ({wrong[0][1]})"
        checks.append(
            Check("permission", Status.FAIL if wrong else Status.PASS, f"{subject}: {evidence}")
        )
    return checks


def _actions_named(action: str, policies: list[Policy]) -> tuple[str, ...]:
    """Return the actions a check names: the catalogue's, and for a pattern also the actions
    the role's policies name literally that the catalogue lacks (a service AWS retired, an
    action newer than the catalogue), so that a grant cannot hide from a pattern."""
    literals = (
        literal
        for policy in policies
        for statement in policy.statements
        for literal in statement.actions or ()
    )
    return expand_over(action, literals)  # checked when the scenario was loaded


def principal_tags(
    loaded: LoadedScenario, role_arn: str, session_tags: Mapping[str, str]
) -> dict[str, str]:
    """Return the ``aws:PrincipalTag`` keys of a role session, as AWS builds them.

    The role's own IAM tags (from the scenario's AWS world), then the session tags; a session
    tag replaces a role tag whose key differs only in case.
    """
    spec = _role_spec(loaded, role_arn)
    tags: dict[str, str] = dict(spec.tags) if spec is not None else {}
    for key, value in session_tags.items():
        for clash in [k for k in tags if k.lower() == key.lower()]:
            del tags[clash]
        tags[key] = value
    return tags


def _role_spec(loaded: LoadedScenario, role_arn: str) -> RoleSpec | None:
    account_id = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[1]
    account = loaded.scenario.aws.accounts.get(account_id)
    return account.roles.get(name) if account else None


def role_permission_policies(loaded: LoadedScenario, role_arn: str) -> list[Policy]:
    """Return the parsed inline and managed permission policies of a declared role."""
    spec = _role_spec(loaded, role_arn)
    if spec is None:
        return []
    policies = [parse_policy(document) for document in spec.inline_policies.values()]
    for arn in spec.policies:
        document = managed_policy_document(arn)
        if document is not None:
            policies.append(parse_policy(document))
    return policies


def managed_policy_document(arn: str) -> dict[str, Any] | None:
    """Return an AWS managed policy's document (from moto's copy of AWS's policies)."""
    from sp_fixtures.aws.iam_view import _moto_aws_policies

    found = _moto_aws_policies().get(arn)
    if found is None:
        return None
    document = found[1].get("Document")
    return json.loads(document) if isinstance(document, str) else document
