"""The JSON API for CI: issue responses, list users, change groups at run time.

Every request body is JSON with ``Content-Type: application/json`` (so a cross-site HTML form
cannot call it); every error is ``{"error": {"code", "message", "status"}}``. A body that is not
JSON, nests too deeply, or holds a string that XML cannot carry (see :mod:`idp.views.xml_text`)
is refused with 400 naming the field, and nothing of it is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from werkzeug.exceptions import BadRequest

from idp.directory import User
from idp.provider import IdentityProvider
from idp.saml.builder import SamlAttribute
from idp.views.common import json_ready, state
from idp.views.errors import BadApiRequestError, UnregisteredAcsError, UnsupportedMediaError
from idp.views.xml_text import XmlText, check_xml_text, printable

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_GROUPS = 1000
"""Most direct groups one request may give a user (Active Directory's token holds ~1000)."""
MAX_GROUP_NAME = 1024
"""Longest group name accepted (a full LDAP DN fits)."""
MAX_SUBJECT_CONFIRMATIONS = 100
"""Most SubjectConfirmation copies an override may ask for (AWS wants exactly one)."""


def _in_utc(moment: dt.datetime) -> dt.datetime:
    """Return ``moment`` in UTC; a time that UTC cannot hold (year 1 at +14:00) is refused."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "the time is out of range once converted to UTC"
        ) from None


SamlTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timezone-aware time, held in UTC as SAML writes it."""
GroupName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_GROUP_NAME), BeforeValidator(check_xml_text)
]
"""A group name given at run time: XML text, not empty, at most MAX_GROUP_NAME characters."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_null(value: object) -> object:
    """Refuse an explicit null for a field the XML cannot leave out."""
    if value is None:
        raise PydanticCustomError(
            "not_null",
            "cannot be null: the XML always carries this value (leave the field "
            "out to keep the IdP's own)",
        )
    return value


class AttributeOverride(_Strict):
    """One ``saml:Attribute`` in an override."""

    name: XmlText
    values: list[XmlText]
    name_format: XmlText | None = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
    friendly_name: XmlText | None = None
    value_type: XmlText | None = "xs:string"


class AssertionOverrides(_Strict):
    """Fields of the assertion to replace, including with wrong values; null omits an element."""

    issuer: XmlText | None = None
    issue_instant: SamlTime | None = None
    name_id: XmlText | None = None
    assertion_id: XmlText | None = None
    name_id_format: XmlText | None = None
    name_qualifier: XmlText | None = None
    sp_name_qualifier: XmlText | None = None
    subject_confirmation: bool | None = None
    subject_confirmation_count: Annotated[int, Field(ge=0, le=MAX_SUBJECT_CONFIRMATIONS)] | None = (
        None
    )
    confirmation_method: XmlText | None = None
    recipient: XmlText | None = None
    confirmation_not_on_or_after: SamlTime | None = None
    in_response_to: XmlText | None = None
    conditions: bool | None = None
    not_before: SamlTime | None = None
    not_on_or_after: SamlTime | None = None
    audiences: list[XmlText] | None = None
    authn_statement: bool | None = None
    authn_instant: SamlTime | None = None
    session_index: XmlText | None = None
    session_not_on_or_after: SamlTime | None = None
    authn_context_class: XmlText | None = None
    attributes: list[AttributeOverride] | None = None
    version: XmlText | None = None

    _required = field_validator(
        "issue_instant", "assertion_id", "subject_confirmation_count", "version"
    )(_not_null)


class ResponseOverrides(_Strict):
    """Fields of the Response envelope to replace."""

    issuer: XmlText | None = None
    issue_instant: SamlTime | None = None
    destination: XmlText | None = None
    response_id: XmlText | None = None
    in_response_to: XmlText | None = None
    status: XmlText | None = None
    status_message: XmlText | None = None
    version: XmlText | None = None

    _required = field_validator("issue_instant", "response_id", "version")(_not_null)


class Overrides(_Strict):
    """What to change in the response: ``{"assertion": {...}, "response": {...}}``."""

    assertion: AssertionOverrides = Field(default_factory=AssertionOverrides)
    response: ResponseOverrides = Field(default_factory=ResponseOverrides)


class SamlResponseRequest(_Strict):
    """The body of ``POST /api/saml-response``."""

    user: XmlText
    sp: XmlText = "aws"
    role: XmlText | None = Field(
        None, description="Keep only this role's pair in the Role attribute."
    )
    acs: XmlText | None = Field(
        None, description="A registered ACS of the SP (default: its first)."
    )
    relay_state: XmlText | None = None
    in_response_to: XmlText | None = None
    overrides: Overrides = Field(default_factory=Overrides)


class GroupsRequest(_Strict):
    """The body of ``PUT /api/users/<name>/groups``."""

    groups: list[GroupName] = Field(max_length=MAX_GROUPS)


def _body(model: type[BaseModel]) -> Any:
    if not request.is_json:
        raise UnsupportedMediaError("send the body as JSON with Content-Type: application/json")
    try:
        data = request.get_json()
    except BadRequest:
        raise BadApiRequestError("the body is not valid JSON") from None
    except RecursionError:  # json's parser recurses once per [ or {
        raise BadApiRequestError(
            "the body nests arrays or objects too deeply to be a request of this API"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = printable(".".join(str(part) for part in first["loc"])) or "body"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise BadApiRequestError(f"{where}: {first['msg']}{suffix}") from None


def _set_fields(model: BaseModel) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if name == "attributes" and value is not None:
            value = tuple(
                SamlAttribute(a.name, tuple(a.values), a.name_format, a.friendly_name, a.value_type)
                for a in value
            )
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
    names = dict.fromkeys(a.name for a in mapping.attributes)  # an engine may repeat a name
    body["attributes"] = {name: list(mapping.values(name)) for name in names}
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
        body.user,
        sp=body.sp,
        role_arn=body.role,
        recipient=acs,
        in_response_to=body.in_response_to,
        now=current.now(),
        assertion_overrides=_set_fields(body.overrides.assertion) or None,
        response_overrides=_set_fields(body.overrides.response) or None,
    )
    relay_state = body.relay_state if body.relay_state is not None else trust.relay_state
    return jsonify(
        json_ready(
            {
                "saml_response": issued.saml_response,
                "xml": issued.xml.decode("utf-8"),
                "relay_state": relay_state,
                "acs": acs,
                "user": issued.user,
                "sp": body.sp,
            }
        )
    )
