"""The attack catalogue: every tampered-response variant, what it changes and who must refuse it.

The entries live in ``catalogue.yaml`` beside this module (data, not code: saml-attacks.md §8);
:func:`load_catalogue` reads and checks them once. Each :class:`Attack` says which family it
belongs to, what the generator changes, which signing layout the baseline needs, the outcome the
harness requires — the verifier's :class:`~sp_fixtures.xmldsig.ErrorCode`, the strict STS rule
and the AWS error code — and the CVEs, papers and fixtures it comes from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Literal, get_args

import yaml

from sp_fixtures.attacks.errors import CatalogueError
from sp_fixtures.xmldsig import ErrorCode

__all__ = [
    "Attack",
    "CatalogueError",
    "Evil",
    "Expected",
    "Family",
    "Layout",
    "Requirement",
    "Scope",
    "attack_by_id",
    "load_catalogue",
    "parse_catalogue",
]

Layout = Literal["assertion", "response", "both"]
"""What the baseline response has signed before the attack is applied."""
Requirement = Literal["replay-protection", "sha1-off"]
"""An SP setting without which the refusal is not required. The strict STS has sha1-off on by
default (``allow_sha1`` turns it off) and replay-protection off (``refuse_replays`` turns it on)."""
Scope = Literal["any", "aws"]
"""``aws`` when the refusal is an AWS rule that other SPs need not share."""
Evil = Literal["name_id", "role", "name_id+role", "none"]
"""What an SP that accepts the variant would see instead of the genuine values."""

_ENTRY_KEYS = frozenset(
    {"id", "family", "form", "scope", "changes", "layout", "evil", "expect", "sources"}
)
_EXPECT_KEYS = frozenset({"verifier", "sts_rule", "aws_error", "requires", "safe_if"})
_AWS_ERRORS = frozenset(
    {"InvalidIdentityToken", "ExpiredTokenException", "AccessDenied", "ValidationError"}
)


class Family(StrEnum):
    """Attack families of saml-attacks.md §1."""

    WRAPPING = "wrapping"
    EXCLUSION = "exclusion"
    KEY_CONFUSION = "key-confusion"
    COMMENT = "comment"
    C14N = "c14n"
    PARSER = "parser"
    DOS = "dos"
    REPLAY = "replay"
    BINDING = "binding"
    TIME = "time"
    ALGORITHM = "algorithm"
    DUPLICATE = "duplicate"
    NAMESPACE = "namespace"


@dataclass(frozen=True)
class Expected:
    """The outcome the harness requires for one attack."""

    verifier: ErrorCode | None
    """The code :func:`~sp_fixtures.verify.verify_response` refuses with; None when the check
    is the SP's own (times, audience, recipient, replay, attribute rules, transport limits)."""
    sts_rule: str | None
    """The strict-STS rule that refuses it (by default, or under the setting ``requires``
    names); None when the strict STS has no rule that refuses it."""
    aws_error: str | None
    """The AWS error code the STS answers with."""
    requires: Requirement | None = None
    """The SP setting under which the refusal is required: an SP without it may accept the
    variant (a policy choice, not a finding). See :data:`Requirement` for the STS defaults."""
    safe_if: str | None = None
    """An acceptance that is not a finding (e.g. the SP kept the full NameID), when there is one."""


@dataclass(frozen=True)
class Attack:
    """One tampered-response variant of the catalogue."""

    id: str
    family: Family
    changes: str
    """What the generator does to the freshly signed baseline."""
    layout: Layout
    evil: Evil
    expect: Expected
    sources: tuple[str, ...]
    """CVEs, papers and library fixtures the variant comes from."""
    form: str | None = None
    """For wrapping attacks: ``faithful`` (SAML Raider's tree) or ``schema-valid``."""
    scope: Scope = "any"
    """``aws`` when only AWS's rules require the refusal (e.g. attribute rules, size limits)."""

    @property
    def policy(self) -> bool:
        """Return whether refusing it depends on an SP setting (see ``Expected.requires``)."""
        return self.expect.requires is not None


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: '{key}' must be a non-empty string")
    return value


def _choice(value: object, allowed: Iterable[str], what: str, where: str) -> str:
    options = tuple(allowed)
    if value not in options:
        raise CatalogueError(f"{where}: {what} {value!r} is not one of {', '.join(options)}")
    return str(value)


def _expected(raw: object, where: str, rule_ids: frozenset[str]) -> Expected:
    if not isinstance(raw, dict) or set(raw) - _EXPECT_KEYS:
        raise CatalogueError(f"{where}: 'expect' must be a mapping of {sorted(_EXPECT_KEYS)}")
    verifier = raw.get("verifier")
    rule = raw.get("sts_rule")
    error = raw.get("aws_error")
    requires = raw.get("requires")
    if verifier is not None:
        verifier = ErrorCode(_choice(verifier, (c.value for c in ErrorCode), "verifier", where))
    if rule is not None:
        _choice(rule, sorted(rule_ids), "sts_rule", where)
    if error is not None:
        _choice(error, sorted(_AWS_ERRORS), "aws_error", where)
    if (rule is None) != (error is None) or (rule is None and requires is None):
        raise CatalogueError(f"{where}: give sts_rule and aws_error, or neither with 'requires'")
    if requires is not None:
        _choice(requires, get_args(Requirement), "requires", where)
    safe_if = raw.get("safe_if")
    return Expected(
        verifier=verifier,
        sts_rule=rule,
        aws_error=error,
        requires=requires,
        safe_if=str(safe_if) if safe_if is not None else None,
    )


def parse_catalogue(document: str) -> tuple[Attack, ...]:
    """Parse and check catalogue YAML; raise CatalogueError naming the entry at fault."""
    from sp_fixtures.aws.sts import RULES

    rule_ids = frozenset(rule.id for rule in RULES)
    loaded = yaml.load(document, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    if not isinstance(loaded, dict) or not isinstance(loaded.get("attacks"), list):
        raise CatalogueError("the catalogue must be a mapping with an 'attacks' list")
    attacks: list[Attack] = []
    seen: set[str] = set()
    for index, entry in enumerate(loaded["attacks"]):
        where = f"attack #{index + 1}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: must be a mapping")
        where = f"attack {entry.get('id', index + 1)!r}"
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
        attack_id = _text(entry, "id", where)
        if attack_id in seen or attack_id == "control":
            raise CatalogueError(f"{where}: the id is used twice (or is the reserved 'control')")
        seen.add(attack_id)
        sources = entry.get("sources")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise CatalogueError(f"{where}: 'sources' must be a list of strings")
        form = entry.get("form")
        attacks.append(
            Attack(
                id=attack_id,
                family=Family(
                    _choice(entry.get("family"), (f.value for f in Family), "family", where)
                ),
                changes=" ".join(_text(entry, "changes", where).split()),
                layout=_choice(entry.get("layout"), get_args(Layout), "layout", where),  # type: ignore[arg-type]
                evil=_choice(entry.get("evil", "name_id+role"), get_args(Evil), "evil", where),  # type: ignore[arg-type]
                expect=_expected(entry.get("expect"), where, rule_ids),
                sources=tuple(sources),
                form=_choice(form, ("faithful", "schema-valid"), "form", where) if form else None,
                scope=_choice(entry.get("scope", "any"), get_args(Scope), "scope", where),  # type: ignore[arg-type]
            )
        )
    return tuple(attacks)


@functools.cache
def load_catalogue() -> tuple[Attack, ...]:
    """Return every attack of the packaged ``catalogue.yaml``, in file order."""
    text = (
        resources.files(__package__ or "sp_fixtures.attacks")
        .joinpath("catalogue.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_catalogue(text)


def attack_by_id(attack_id: str) -> Attack:
    """Return the attack called ``attack_id``, or raise KeyError listing close names."""
    for attack in load_catalogue():
        if attack.id == attack_id:
            return attack
    close = [a.id for a in load_catalogue() if attack_id.split("-")[0] in a.id][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise KeyError(f"no attack {attack_id!r} in the catalogue{hint}")
