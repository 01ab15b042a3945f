"""The IdP's public documents: SAML metadata and the signing certificate. Never a private key."""

from __future__ import annotations

from flask import Blueprint, Response

from idp.views.common import state

bp = Blueprint("metadata", __name__)

METADATA_TYPE = "application/samlmetadata+xml"


@bp.get("/metadata")
def metadata() -> Response:
    """Serve the IdP metadata (``aws iam create-saml-provider --saml-metadata-document``)."""
    response = Response(state().provider().metadata(), mimetype=METADATA_TYPE)
    response.headers["Content-Disposition"] = 'inline; filename="idp-metadata.xml"'
    return response


@bp.get("/certificate")
def certificate() -> Response:
    """Serve the published signing certificates (PEM): the current one, then the next."""
    pems = b"".join(key.cert_pem for key in state().provider().published_keys)
    return Response(pems, mimetype="application/x-pem-file")
