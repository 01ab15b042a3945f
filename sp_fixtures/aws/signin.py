"""The AWS console's SAML sign-in, emulated: POST /saml, the role picker, the session page.

Receives the SAMLResponse exactly as https://signin.aws.amazon.com/saml does (form POST, with
RelayState), refuses with AWS's own error page text when AWS would, otherwise lists the roles
grouped by account like the console's role picker. Choosing a role exchanges the assertion with
the strict STS and shows the session — and, for demos, the credentials as environment lines.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request

from idp.saml.constants import AwsAttribute
from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from sp_fixtures.aws.errors import StsError
from sp_fixtures.aws.inspect import element_text, split_role_value
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts

INVALID_RESPONSE = "Your request included an invalid SAML response. To logout, click here."
"""The console's page text for a response it cannot use (aws-sts-saml.md §3.2)."""
MAX_FORM_BYTES = 400_000

bp = Blueprint("signin", __name__, template_folder="templates")


def create_signin_app(sts: StrictSts) -> Flask:
    """Return the emulated AWS sign-in application for ``sts``."""
    app = Flask(__name__)
    app.config["STRICT_STS"] = sts
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.register_blueprint(bp)
    return app


def _sts() -> StrictSts:
    sts: StrictSts = current_app.config["STRICT_STS"]
    return sts


def role_pairs(document: bytes) -> list[tuple[str, str]]:
    """Return (role ARN, provider ARN) for every Role value of a response, either order."""
    root = parse_xml(document)
    pairs: list[tuple[str, str]] = []
    for attribute in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}Attribute"):
        if attribute.get("Name") != AwsAttribute.ROLE:
            continue
        for value in attribute.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):
            pair = split_role_value(element_text(value))
            if pair is not None and pair not in pairs:
                pairs.append(pair)
    return pairs


def _refused(status: int = 400, detail: str | None = None) -> tuple[str, int]:
    return render_template("signin/error.html", message=INVALID_RESPONSE, detail=detail), status


@bp.post("/saml")
@bp.post("/saml/acs/<provider_id>")
def saml_post(provider_id: str | None = None) -> tuple[str, int]:
    """Receive the SAMLResponse and show the role picker, or AWS's error page."""
    saml_response = request.form.get("SAMLResponse", "")
    relay_state = request.form.get("RelayState", "")
    try:
        document = base64.b64decode("".join(saml_response.split()), validate=True)
        pairs = role_pairs(document)
    except (binascii.Error, ValueError, UnsafeXmlError):
        return _refused(detail="the SAMLResponse is not base64 of well-formed XML")
    if not pairs:
        return _refused(detail="no usable https://aws.amazon.com/SAML/Attributes/Role value")
    # The console validates the response (signature, issuer, times …) before listing roles;
    # the trust policy is evaluated only when a role is chosen.
    verdicts = {
        pair: _sts().judge(
            AssumeRoleWithSamlRequest(
                RoleArn=pair[0], PrincipalArn=pair[1], SAMLAssertion=saml_response
            )
        )
        for pair in pairs
    }
    response_problems = [
        v.error
        for v in verdicts.values()
        if v.error is not None
        and v.failed_rule is not None
        and v.failed_rule.startswith(("saml.", "provider."))
        and v.failed_rule not in ("saml.role_pair",)
    ]
    if len(response_problems) == len(pairs):
        return _refused(detail=f"{response_problems[0].code}: {response_problems[0].message}")
    accounts: dict[str, list[dict[str, str]]] = defaultdict(list)
    for role, provider in pairs:
        accounts[role.split(":")[4]].append(
            {"arn": role, "name": role.rsplit("/", 1)[1], "provider": provider}
        )
    return render_template(
        "signin/picker.html",
        accounts=dict(sorted(accounts.items())),
        saml_response=saml_response,
        relay_state=relay_state,
    ), 200


@bp.post("/saml/choose")
def choose() -> tuple[str, int]:
    """Exchange the assertion for the chosen role and show the session."""
    saml_response = request.form.get("SAMLResponse", "")
    choice = request.form.get("role", "")
    role_arn, _, provider_arn = choice.partition("|")
    try:
        answer = _sts().assume_role_with_saml(
            RoleArn=role_arn, PrincipalArn=provider_arn, SAMLAssertion=saml_response
        )
    except StsError as error:
        status = 403 if error.code == "AccessDenied" else 400
        return render_template(
            "signin/error.html",
            message=INVALID_RESPONSE if status == 400 else f"{error.code}: {error.message}",
            detail=f"{error.code}: {error.message} [rule {error.rule}]",
        ), status
    return render_template("signin/session.html", session=_session_view(answer)), 200


@bp.route("/inspect", methods=["GET", "POST"])
def inspect_page() -> tuple[str, int]:
    """Decode, pretty-print and annotate a pasted SAMLResponse; judge it strictly."""
    from sp_fixtures.aws.inspect import InspectError, inspect_response

    pasted = request.form.get("SAMLResponse", "")
    if not pasted:
        return render_template("signin/inspect.html", inspection=None, error=None), 200
    try:
        inspection = inspect_response(pasted, sts=_sts())
    except InspectError as exc:
        return render_template(
            "signin/inspect.html", inspection=None, error=f"not a SAMLResponse: {exc}"
        ), 400
    return render_template("signin/inspect.html", inspection=inspection, error=None), 200


def _session_view(answer: dict[str, Any]) -> dict[str, Any]:
    credentials = answer["Credentials"]
    expiration = credentials["Expiration"]
    expires = (
        expiration.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(expiration, dt.datetime)
        else str(expiration)
    )
    return {
        "arn": answer["AssumedRoleUser"]["Arn"],
        "role_id": answer["AssumedRoleUser"]["AssumedRoleId"],
        "expires": expires,
        "subject": answer.get("Subject"),
        "issuer": answer.get("Issuer"),
        "audience": answer.get("Audience"),
        "source_identity": answer.get("SourceIdentity"),
        "env": [
            f"export AWS_ACCESS_KEY_ID={credentials['AccessKeyId']}",
            f"export AWS_SECRET_ACCESS_KEY={credentials['SecretAccessKey']}",
            f"export AWS_SESSION_TOKEN={credentials['SessionToken']}",
        ],
    }
