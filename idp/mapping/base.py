"""The interface every mapping engine implements: a user and their groups in, SAML attributes out.

Real IdPs differ in how they get from directory groups to the AWS Role attribute (an explicit
table, Okta's group filter and role value pattern, ADFS claim rules, Entra app roles, …), but they
all take the same inputs and produce the same kind of output. Each engine also records a trace:
which group matched which rule and what came out, for ``fedharness explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from idp.directory import User
from idp.saml.builder import SamlAttribute


@dataclass(frozen=True)
class TraceStep:
    """One decision a mapping engine took."""

    rule: str
    """The rule as the admin wrote it (a table row, a claim rule's name, a filter)."""
    matched: str
    """What it matched: a group name, a claim, or a reason it did not."""
    produced: tuple[str, ...] = ()
    """Attribute values that came out of this step."""


@dataclass(frozen=True)
class MappingResult:
    """The attributes an IdP would send for one user, and how it got there."""

    attributes: tuple[SamlAttribute, ...]
    trace: tuple[TraceStep, ...] = ()

    def values(self, name: str) -> tuple[str, ...]:
        """Return every value of the attribute called ``name`` (empty when absent)."""
        found: list[str] = []
        for attribute in self.attributes:
            if attribute.name == name:
                found.extend(attribute.values)
        return tuple(found)


@dataclass(frozen=True)
class MappingInput:
    """What a mapping engine sees about the signed-in user."""

    user: User
    groups: tuple[str, ...]
    """Every group the user is in, transitively, direct groups first."""
    direct_groups: tuple[str, ...]


class MappingEngine(Protocol):
    """Turn a user into SAML attributes the way one kind of IdP does."""

    name: str
    """Short engine name used in scenario files and reports (``explicit``, ``okta_aws``, …)."""

    def map(self, subject: MappingInput) -> MappingResult:
        """Return the attributes this IdP configuration sends for ``subject``."""
        ...


def merge_attributes(attributes: Sequence[SamlAttribute]) -> tuple[SamlAttribute, ...]:
    """Join attributes of the same name into one, keeping first-seen order and dropping repeats.

    For attributes fedharness itself adds (the scenario's ``attributes`` section), never for an
    engine's output: an engine's separate same-name elements are the layout its IdP sends
    (Keycloak's role list with Single Role Attribute off, JumpCloud's several Role mappings).
    """
    order: list[str] = []
    merged: dict[str, SamlAttribute] = {}
    for attribute in attributes:
        existing = merged.get(attribute.name)
        if existing is None:
            order.append(attribute.name)
            merged[attribute.name] = attribute
            continue
        values = existing.values + tuple(v for v in attribute.values if v not in existing.values)
        merged[attribute.name] = SamlAttribute(
            existing.name, values, existing.name_format, existing.friendly_name, existing.value_type
        )
    return tuple(merged[name] for name in order)
