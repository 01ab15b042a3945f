"""Why a user gets (or does not get) each role: groups, mapping trace, assertion attributes, the
strict STS verdict with the trust-policy evaluation, and the user's expectation.

The STS evidence (rules passed, the refusing rule, the trust-policy decision) exists only for the
in-process strict STS, so ``explain`` always runs against moto in-process.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from idp.directory import Directory
from idp.mapping.base import MappingResult
from idp.saml.constants import PRINCIPAL_TAG_PREFIX, AwsAttribute
from scenarios.exchange import MotoExchanger, open_exchanger, utcnow
from scenarios.loader import LoadedScenario, suggest_role
from scenarios.runner import Status, UserResult, offered_pairs, run_uncovered, run_user
from sp_fixtures.aws.policy import Decision, StatementResult
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, Verdict

_AWS_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
_YES, _NO = "✓", "✗"


@dataclass(frozen=True)
class GroupPath:
    """A group of the user and how the user gets there, e.g. alice → team → aws-admins."""

    group: str
    path: tuple[str, ...]
    """From the user to the group, both included."""

    @property
    def direct(self) -> bool:
        """Return whether the user is directly in the group."""
        return len(self.path) == 2

    def arrow(self) -> str:
        """Return the path joined with arrows."""
        return " → ".join(self.path)


@dataclass(frozen=True)
class RoleVerdict:
    """The strict STS verdict on one role for the user's assertion."""

    role_arn: str
    provider_arn: str
    offered: bool
    """Whether the IdP's assertion offers this pair (False for a ``--role`` it does not)."""
    verdict: Verdict
    declared: bool = True
    """Whether the scenario declares this role under ``aws.accounts``."""
    did_you_mean: str = ""
    """For a role it does not declare: `` (did you mean …?)`` with the closest it does."""


@dataclass(frozen=True)
class Explanation:
    """Everything ``fedharness explain`` shows for one user."""

    scenario: str
    user: str
    groups: tuple[GroupPath, ...]
    engine: str
    mapping: MappingResult
    offered: tuple[tuple[str, str], ...]
    roles: tuple[RoleVerdict, ...]
    expect_key: str | None
    result: UserResult
    """The user's expectation run end to end; for a user no expectation covers, the check that
    they assume no role (as ``fedharness run`` does)."""

    @property
    def holds(self) -> bool:
        """Return whether the expectation holds."""
        return self.result.passed


def group_paths(directory: Directory, user: str) -> tuple[GroupPath, ...]:
    """Return each group of ``user`` with a shortest nesting path, in ``groups_of`` order."""
    paths: dict[str, tuple[str, ...]] = {}
    queue: list[tuple[str, tuple[str, ...]]] = [
        (group, (user, group)) for group in directory.direct_groups_of(user)
    ]
    for group, path in queue:
        if group in paths:
            continue
        paths[group] = path
        queue.extend(
            (parent, (*path, parent))
            for parent in directory.group(group).member_of
            if parent not in paths
        )
    return tuple(GroupPath(group, paths[group]) for group in directory.groups_of(user))


def explain_user(loaded: LoadedScenario, user: str, *, role: str | None = None) -> Explanation:
    """Build the explanation for ``user`` (only ``role`` when given), using moto in-process."""
    directory = loaded.directory
    directory.user(user)  # raises UnknownUserError with close matches
    mapping = loaded.provider.map_user(user)
    offered = offered_pairs(mapping.values(AwsAttribute.ROLE))
    targets = [(r, p, True) for r, p in offered if role is None or r == role]
    if role is not None and not targets:
        targets.append((role, _provider_for(loaded, role, offered), False))
    found = loaded.expectation_for(user)
    declared = loaded.scenario.aws.role_arns()
    with open_exchanger(loaded, "moto") as exchanger:
        assert isinstance(exchanger, MotoExchanger)  # noqa: S101 - mode "moto"
        assertion = loaded.provider.issue(user, now=utcnow()).saml_response
        verdicts = tuple(
            RoleVerdict(
                arn,
                provider,
                is_offered,
                exchanger.sts.judge(
                    AssumeRoleWithSamlRequest(
                        RoleArn=arn, PrincipalArn=provider, SAMLAssertion=assertion
                    )
                ),
                declared=arn in declared,
                did_you_mean="" if arn in declared else close_roles(arn, declared),
            )
            for arn, provider, is_offered in targets
        )
        result = (
            run_user(loaded, exchanger, user, *found)
            if found is not None
            else run_uncovered(loaded, exchanger, user)  # fails if the user assumes a role
        )
    return Explanation(
        scenario=loaded.name,
        user=user,
        groups=group_paths(directory, user),
        engine=loaded.provider.engine.name,
        mapping=mapping,
        offered=offered,
        roles=verdicts,
        expect_key=found[0] if found is not None else None,
        result=result,
    )


def close_roles(role: str, declared: list[str]) -> str:
    """Return `` (did you mean …?)`` with the declared role ARNs closest to ``role``, or "".

    An ARN is compared whole, as ``fedharness run`` compares a role in ``expect``. A bare name
    (``Dev``, ``role/Dev``) never comes close to a whole ARN, so it is compared with the declared
    roles' names (a close spelling, else a name containing it: ``Dev`` in ``ADFS-Dev``), and
    their ARNs are suggested.
    """
    if role.startswith("arn:"):
        return suggest_role(role, declared)
    by_name: dict[str, list[str]] = {}
    for arn in declared:
        by_name.setdefault(arn.rsplit("/", 1)[-1], []).append(arn)
    given = role.rsplit("/", 1)[-1]
    names = (
        difflib.get_close_matches(given, list(by_name), n=2, cutoff=0.6)
        or [name for name in by_name if given and given.lower() in name.lower()][:2]
    )
    arns = [arn for name in names for arn in by_name[name]]
    return f" (did you mean {' or '.join(repr(arn) for arn in arns)}?)" if arns else ""


def _provider_for(
    loaded: LoadedScenario, role_arn: str, offered: tuple[tuple[str, str], ...]
) -> str:
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 4 else ""
    for _, provider in offered:
        if provider.split(":")[4:5] == [account]:
            return provider
    declared = loaded.scenario.aws.accounts.get(account)
    name = next(iter(declared.saml_providers), "fedharness") if declared else "fedharness"
    return f"arn:aws:iam::{account}:saml-provider/{name}"


# --- rendering ----------------------------------------------------------------------------------


def print_explanation(console: Console, explanation: Explanation) -> None:
    """Print the explanation section by section."""
    ex = explanation
    console.print(
        Text.assemble(("explain ", "bold"), (ex.user, "bold cyan"), f"  (scenario {ex.scenario})")
    )
    _section(console, "groups")
    if not ex.groups:
        _line(console, 1, Text(f"{ex.user} is in no group", style="dim"))
    for path in ex.groups:
        label = "direct   " if path.direct else "inherited"
        _line(console, 1, Text.assemble((label, "dim"), "  ", path.arrow()))
    _section(console, f"mapping ({ex.engine})")
    for number, step in enumerate(ex.mapping.trace, start=1):
        _line(
            console,
            1,
            Text.assemble(f"{number}. ", (step.rule, "bold"), "  matched ", step.matched),
        )
        for value in step.produced:
            _line(console, 2, Text.assemble(("→ ", "green"), value))
    _section(console, "assertion attributes")
    if not ex.mapping.attributes:
        _line(console, 1, Text("none", style="dim"))
    for attribute in ex.mapping.attributes:
        _line(console, 1, Text(attribute_label(attribute.name), style="bold"))
        for value in attribute.values:
            _line(console, 2, Text(value))
    _section(console, "roles (strict STS, moto in-process)")
    if not ex.roles:
        _line(console, 1, Text("the assertion offers no role", style="dim"))
    for role in ex.roles:
        _print_role(console, role)
    _section(console, "expectation")
    _print_expectation(console, ex)


def attribute_label(name: str) -> str:
    """Return a short label for a SAML attribute name (``Role``, ``PrincipalTag:team``, …)."""
    if name.startswith(PRINCIPAL_TAG_PREFIX):
        return "PrincipalTag:" + name[len(PRINCIPAL_TAG_PREFIX) :]
    return name.removeprefix(_AWS_PREFIX)


def _print_role(console: Console, role: RoleVerdict) -> None:
    verdict = role.verdict
    outcome = (
        Text("allowed: credentials would be issued", style="green")
        if verdict.error is None
        else Text("refused", style="bold red")
    )
    _line(
        console,
        1,
        Text.assemble((role.role_arn, "bold"), " via ", role.provider_arn, "  ", outcome),
    )
    if not role.declared:
        _line(
            console,
            2,
            Text(
                "the scenario declares no such role under aws.accounts" + role.did_you_mean,
                style="bold yellow",
            ),
        )
    if not role.offered:
        _line(console, 2, Text("not offered by the IdP's assertion", style="yellow"))
    _line(
        console,
        2,
        Text.assemble(
            (f"rules passed ({len(verdict.passed_rules)}): ", "dim"),
            ", ".join(verdict.passed_rules) or "none",
        ),
    )
    if verdict.error is not None:
        _line(
            console,
            2,
            Text.assemble(
                ("refused by rule ", "red"),
                (verdict.failed_rule or "?", "bold red"),
                ": ",
                f"{verdict.error.code}: {verdict.error.message}",
            ),
        )
    decisions = verdict.exchange.trust_decisions
    if not decisions:
        _line(
            console,
            2,
            Text("trust policy: not evaluated (refused by an earlier rule)", style="dim"),
        )
    for decision in decisions:
        _print_decision(console, decision)


def _print_decision(console: Console, decision: Decision) -> None:
    style = "green" if decision.allowed else "red"
    _line(console, 2, Text.assemble(("trust policy: ", "bold"), (decision.describe(), style)))
    for result in decision.statements:
        _line(console, 3, _statement_line(result))
        for condition in result.conditions:
            request = (
                ", ".join(condition.request_values)
                if condition.request_values is not None
                else "(absent)"
            )
            _line(
                console,
                4,
                Text.assemble(
                    (_YES if condition.held else _NO, "green" if condition.held else "red"),
                    f" {condition.operator} {condition.key}: policy ",
                    ", ".join(condition.policy_values),
                    "; request ",
                    request,
                    "; held" if condition.held else "; not held",
                ),
            )


def _statement_line(result: StatementResult) -> Text:
    label = f"statement {result.statement_index}"
    if result.policy_index:
        label = f"policy {result.policy_index} {label}"
    if result.sid:
        label += f" (Sid {result.sid})"
    checks = [
        ("principal", result.principal_matched),
        ("action", result.action_matched),
        ("resource", result.resource_matched),
    ]
    if result.conditions:
        checks.append(("conditions", result.conditions_held))
    parts: list[str | tuple[str, str]] = [(f"{label}, {result.effect}:", "bold")]
    for name, ok in checks:
        parts += [f"  {name} ", (_YES if ok else _NO, "green" if ok else "red")]
    return Text.assemble(*parts)


def _print_expectation(console: Console, ex: Explanation) -> None:
    if ex.expect_key is None:
        _line(console, 1, Text(f"no expectation covers {ex.user}", style="yellow"))
    else:
        _line(console, 1, Text.assemble("expect key ", (ex.expect_key, "bold")))
    for check in ex.result.checks:
        ok = check.status is Status.PASS
        mark = Text(_YES if ok else _NO, style="green" if ok else "bold red")
        # A failed check lists one problem per line; each gets its own mark, as in `run`.
        for problem in check.message.split("\n"):
            _marked_line(console, 2, mark, Text(f"{check.kind}: {problem}"))
    verdict = (
        Text("expectation holds", style="bold green")
        if ex.holds
        else Text("expectation fails", style="bold red")
    )
    _line(console, 1, verdict)


def _section(console: Console, title: str) -> None:
    console.print(Text(title, style="bold underline"))


def _line(console: Console, depth: int, text: Text) -> None:
    console.print(Text("  " * depth) + text)


def _marked_line(console: Console, depth: int, mark: Text, message: Text) -> None:
    """Print ``mark message`` indented, wrapped lines of the message aligned under its start
    (as ``scenarios.report`` prints a run's failures)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(mark, message)
    console.print(Padding(grid, (0, 0, 0, 2 * depth)))
