"""The JSON API for CI: issue responses, list users, change groups at run time.

Every request body is JSON with ``Content-Type: application/json`` (so a cross-site HTML form
cannot call it); every error is ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from idp.directory import User
from idp.provider import IdentityProvider
from idp.saml.builder import SamlAttribute
from idp.views.common import json_ready, state
from idp.views.errors import BadApiRequestError, UnregisteredAcsError, UnsupportedMediaError

bp = Blueprint("api", __name__, url_prefix="/api")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttributeOverride(_Strict):
    """One ``saml:Attribute`` in an override."""

    name: str
    values: list[str]
    name_format: str | None = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
    friendly_name: str | None = None
    value_type: str | None = "xs:string"


class AssertionOverrides(_Strict):
    """Fields of the assertion to replace, including with wrong values; null omits an element."""

    issuer: str | None = None
    issue_instant: AwareDatetime | None = None
    name_id: str | None = None
    assertion_id: str | None = None
    name_id_format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    subject_confirmation: bool | None = None
    subject_confirmation_count: int | None = None
    confirmation_method: str | None = None
    recipient: str | None = None
    confirmation_not_on_or_after: AwareDatetime | None = None
    in_response_to: str | None = None
    conditions: bool | None = None
    not_before: AwareDatetime | None = None
    not_on_or_after: AwareDatetime | None = None
    audiences: list[str] | None = None
    authn_statement: bool | None = None
    authn_instant: AwareDatetime | None = None
    session_index: str | None = None
    session_not_on_or_after: AwareDatetime | None = None
    authn_context_class: str | None = None
    attributes: list[AttributeOverride] | None = None
    version: str | None = None


class ResponseOverrides(_Strict):
    """Fields of the Response envelope to replace."""

    issuer: str | None = None
    issue_instant: AwareDatetime | None = None
    destination: str | None = None
    response_id: str | None = None
    in_response_to: str | None = None
    status: str | None = None
    status_message: str | None = None
    version: str | None = None


class Overrides(_Strict):
    """What to change in the response: ``{"assertion": {...}, "response": {...}}``."""

    assertion: AssertionOverrides = Field(default_factory=AssertionOverrides)
    response: ResponseOverrides = Field(default_factory=ResponseOverrides)


class SamlResponseRequest(_Strict):
    """The body of ``POST /api/saml-response``."""

    user: str
    sp: str = "aws"
    role: str | None = Field(None, description="Keep only this role's pair in the Role attribute.")
    acs: str | None = Field(None, description="A registered ACS of the SP (default: its first).")
    relay_state: str | None = None
    in_response_to: str | None = None
    overrides: Overrides = Field(default_factory=Overrides)


class GroupsRequest(_Strict):
    """The body of ``PUT /api/users/<name>/groups``."""

    groups: list[str]


def _body(model: type[BaseModel]) -> Any:
    if not request.is_json:
        raise UnsupportedMediaError("send the body as JSON with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise BadApiRequestError("the body is not valid JSON")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise BadApiRequestError(f"{where}: {first['msg']}{suffix}") from None


def _set_fields(model: BaseModel) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if name == "attributes" and value is not None:
            value = tuple(SamlAttribute(a.name, tuple(a.values), a.name_format,
                                        a.friendly_name, a.value_type) for a in value)
        elif name == "audiences" and value is not None:
            value = tuple(value)
        fields[name] = value
    return fields


def _user_json(provider: IdentityProvider, user: User) -> dict[str, Any]:
    directory = provider.directory
    return {
        "name": user.name,
        "email": user.email,
        "display_name": user.display_name,
        "groups": list(user.direct_groups),
        "all_groups": list(directory.groups_of(user)),
        "has_password": user.password is not None,
    }


@bp.get("/health")
def health() -> Response:
    """Answer ``{"status": "ok"}`` once the IdP serves."""
    return jsonify(status="ok")


@bp.get("/users")
def users() -> Response:
    """List every user with their direct and inherited groups."""
    provider = state().provider()
    return jsonify(users=[_user_json(provider, u) for u in provider.directory.users()])


@bp.get("/users/<name>")
def user(name: str) -> Response:
    """Return one user and the attributes the IdP sends for them."""
    provider = state().provider()
    found = provider.directory.user(name)
    mapping = provider.map_user(found)
    body = _user_json(provider, found)
    body["attributes"] = {a.name: list(a.values) for a in mapping.attributes}
    return jsonify(user=body)


@bp.put("/users/<name>/groups")
def set_groups(name: str) -> Response:
    """Replace a user's direct groups for the life of the server (``{"groups": [...]}``)."""
    body: GroupsRequest = _body(GroupsRequest)
    current = state()
    changed = current.directory.set_groups(name, body.groups)
    return jsonify(user=_user_json(current.provider(), changed))


@bp.post("/reset")
def reset() -> Response:
    """Drop every run-time change."""
    state().directory.reset()
    return jsonify(status="reset")


@bp.post("/saml-response")
def saml_response() -> Response:
    """Issue a signed response: ``{user, sp, overrides}`` → ``{saml_response, xml, …}``."""
    body: SamlResponseRequest = _body(SamlResponseRequest)
    current = state()
    provider = current.provider()
    provider.service_provider(body.sp)
    trust = current.trust[body.sp]
    acs = body.acs or trust.acs_urls[0]
    if acs not in trust.acs_urls:
        raise UnregisteredAcsError(f"{acs!r} is not a registered ACS of {body.sp!r}")
    issued = provider.issue(
        body.user, sp=body.sp, role_arn=body.role, recipient=acs,
        in_response_to=body.in_response_to, now=current.now(),
        assertion_overrides=_set_fields(body.overrides.assertion) or None,
        response_overrides=_set_fields(body.overrides.response) or None)
    relay_state = body.relay_state if body.relay_state is not None else trust.relay_state
    return jsonify(json_ready({
        "saml_response": issued.saml_response,
        "xml": issued.xml.decode("utf-8"),
        "relay_state": relay_state,
        "acs": acs,
        "user": issued.user,
        "sp": body.sp,
    }))
