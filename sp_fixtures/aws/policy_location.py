"""Point at the line of a policy problem: turn MalformedPolicyDocument into a pydantic error.

:func:`~sp_fixtures.aws.policy.parse_policy` says where a problem is as ``Statement[i]`` plus a
sentence; scenario files are YAML, and admins want the line. This finds the deepest key of the
document the problem names, and raises a ValidationError located there, so that the scenario
loader reports ``file:line`` of that key.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .policy import MalformedPolicyDocument, parse_policy

_STATEMENT_WHERE = re.compile(r"Statement\[(\d+)\]")


def check_policy(document: dict[str, Any], *, trust: bool, loc: tuple[Hashable, ...] = ()) -> None:
    """Parse ``document``; a problem raises a ValidationError located inside the document."""
    try:
        policy = parse_policy(document)
    except MalformedPolicyDocument as exc:
        where = _where(document, exc.where)
        located = (*loc, *descend(document, where, exc.problem))
        raise policy_error(located, exc.problem, document) from None
    if not trust:
        return
    for index, statement in enumerate(policy.statements):
        where = _where(document, f"Statement[{index}]")
        if statement.principals is None and statement.not_principals is None:
            raise policy_error(
                (*loc, *where), "a trust policy statement needs a Principal", document
            )
        if statement.resources is not None or statement.not_resources is not None:
            located = (*loc, *descend(document, where, "Resource NotResource"))
            raise policy_error(located, "a trust policy statement has no Resource", document)


def _where(document: Mapping[str, Any], where: str) -> tuple[Hashable, ...]:
    """Turn parse_policy's ``Policy`` / ``Statement[i]`` into a location in ``document``."""
    match = _STATEMENT_WHERE.fullmatch(where)
    if match is None:
        return ()
    if isinstance(document.get("Statement"), list):
        return ("Statement", int(match.group(1)))
    return ("Statement",)


def descend(document: Any, loc: tuple[Hashable, ...], problem: str) -> tuple[Hashable, ...]:
    """Follow ``loc`` into ``document``, then go into the keys the problem names, for the line."""
    current = document
    for element in loc:
        if isinstance(current, Mapping) and element in current:
            current = current[element]
        elif isinstance(current, list) and isinstance(element, int) and element < len(current):
            current = current[element]
        else:
            return loc
    found = list(loc)
    for _ in range(3):
        if not isinstance(current, Mapping):
            break
        named = [
            (match.start(), key)
            for key in current
            if isinstance(key, str)
            for match in [re.search(rf"(?<![\w:]){re.escape(key)}(?![\w:])", problem)]
            if match is not None
        ]
        if not named:
            break
        key = min(named)[1]
        found.append(key)
        current = current[key]
    return tuple(found)


def policy_error(loc: Sequence[Hashable], problem: str, document: object) -> ValidationError:
    """Return a ValidationError for a malformed policy, located at ``loc``."""
    detail = InitErrorDetails(
        type=PydanticCustomError(
            "malformed_policy", "malformed policy document: {problem}", {"problem": problem}
        ),
        loc=tuple(str(part) if not isinstance(part, int) else part for part in loc),
        input=document,
    )
    return ValidationError.from_exception_data("PolicyDocument", [detail])
