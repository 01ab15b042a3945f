"""Attribute value templates such as ``{email}`` or ``{attr:department}``."""

from __future__ import annotations

import re

from idp.directory import User
from idp.errors import IdpError

_FIELD = re.compile(r"\{([a-z_]+(?::[^{}]+)?)\}")
USER_FIELDS = ("name", "email", "upn", "display_name", "given_name", "surname", "name_id")


class TemplateError(IdpError):
    """A template names a field the user does not have."""

    code = "template"


def render(template: str, user: User) -> str:
    """Fill ``template`` from ``user``; an empty or unknown field raises TemplateError."""

    def field_value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("attr:"):
            values = user.attributes.get(key[5:])
            if not values:
                raise TemplateError(
                    f"user {user.name!r} has no attribute {key[5:]!r} "
                    f"(needed by template {template!r})"
                )
            return values[0]
        if key not in USER_FIELDS:
            raise TemplateError(
                f"unknown field {{{key}}} in template {template!r}; use one of "
                + ", ".join(f"{{{f}}}" for f in USER_FIELDS)
                + " or {attr:NAME}"
            )
        value = getattr(user, key)
        if not value:
            raise TemplateError(
                f"user {user.name!r} has no {key} (needed by template {template!r})"
            )
        return str(value)

    return _FIELD.sub(field_value, template)
