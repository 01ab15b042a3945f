"""A real service provider for the round trips: pysaml2 behind a small Flask app on a free port.

Routes, per SP (``/<name>/…``): ``login`` starts SP-initiated SSO (``binding``, ``sign``,
``relay``, ``force``, ``nameid`` query parameters), ``acs`` consumes the response and answers
JSON with what pysaml2 accepted, ``logout`` starts SP-initiated single logout, ``slo`` takes the
IdP's LogoutResponse (or LogoutRequest).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import CERTS
from tests.idp.saml.independent import XMLSEC1

BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}


def sp_settings(
    name: str, base: str, *, sign_requests: bool, idp_metadata: Path | None = None
) -> dict[str, Any]:
    """Return the pysaml2 configuration of the SP called ``name`` served under ``base``."""
    return {
        "entityid": f"http://{name}.test/metadata",
        "key_file": str(CERTS / "sample-sp.key"),
        "cert_file": str(CERTS / "sample-sp.crt"),
        "xmlsec_binary": XMLSEC1,
        "metadata": {"local": [str(idp_metadata)]} if idp_metadata else {},
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(f"{base}/{name}/acs", BINDING_HTTP_POST)],
                    "single_logout_service": [(f"{base}/{name}/slo", BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": sign_requests,
                "logout_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        },
    }


def sp_metadata(name: str, base: str, *, sign_requests: bool) -> bytes:
    """Return the SP's metadata XML as pysaml2 publishes it."""
    config = SPConfig()
    config.load(sp_settings(name, base, sign_requests=sign_requests))
    return str(entity_descriptor(config)).encode("utf-8")


@dataclass
class PysamlSp:
    """One pysaml2 SP with its outstanding requests and the identities it accepted."""

    name: str
    client: Saml2Client
    outstanding: dict[str, str] = field(default_factory=dict)
    name_ids: list[Any] = field(default_factory=list)


@dataclass
class SpServer:
    """The SPs' web server: its URL and SPs by name."""

    url: str
    sps: dict[str, PysamlSp]
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _app(sps: dict[str, PysamlSp], idp_entity_id: str) -> Flask:
    app = Flask(__name__)

    @app.get("/<name>/login")
    def login(name: str) -> Response:
        sp = sps[name]
        binding = BINDINGS[request.args.get("binding", "redirect")]
        extra: dict[str, Any] = {}
        if request.args.get("force"):
            extra["force_authn"] = "true"
        request_id, info = sp.client.prepare_for_authenticate(
            entityid=idp_entity_id,
            relay_state=request.args.get("relay", ""),
            binding=binding,
            sign=request.args.get("sign") == "1",
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            nameid_format=request.args.get("nameid"),
            **extra,
        )
        sp.outstanding[request_id] = request.url
        if binding == BINDING_HTTP_REDIRECT:
            location = dict(info["headers"])["Location"]
            return redirect(location)  # type: ignore[return-value]
        return Response(info["data"], mimetype="text/html")

    @app.post("/<name>/acs")
    def acs(name: str) -> Response:
        sp = sps[name]
        parsed = sp.client.parse_authn_request_response(
            request.form["SAMLResponse"], BINDING_HTTP_POST, outstanding=sp.outstanding
        )
        sp.name_ids.append(parsed.name_id)
        return jsonify(
            accepted=True,
            relay_state=request.form.get("RelayState"),
            in_response_to=parsed.in_response_to,
            name_id=parsed.name_id.text,
            name_id_format=parsed.name_id.format,
            attributes=parsed.get_identity(),
            session_index=parsed.session_info().get("session_index"),
        )

    @app.get("/<name>/logout")
    def logout(name: str) -> Response:
        sp = sps[name]
        answers = sp.client.global_logout(
            sp.name_ids[-1], sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
        )
        binding, http_args = answers[idp_entity_id]
        if binding == BINDING_HTTP_REDIRECT:
            return redirect(dict(http_args["headers"])["Location"])  # type: ignore[return-value]
        return Response(http_args["data"], mimetype="text/html")

    @app.route("/<name>/slo", methods=["GET", "POST"])
    def slo(name: str) -> Response:
        sp = sps[name]
        values = request.args if request.method == "GET" else request.form
        binding = BINDING_HTTP_REDIRECT if request.method == "GET" else BINDING_HTTP_POST
        if "SAMLResponse" in values:
            answer = sp.client.parse_logout_request_response(values["SAMLResponse"], binding)
            return jsonify(
                logout_response=True,
                status=answer.response.status.status_code.value,
                in_response_to=answer.in_response_to,
            )
        handled = sp.client.handle_logout_request(
            values["SAMLRequest"],
            sp.name_ids[-1],
            binding,
            relay_state=values.get("RelayState"),
            sign=True,
            sign_alg=SIG_RSA_SHA256,
        )
        return redirect(dict(handled["headers"])["Location"])  # type: ignore[return-value]

    return app


def start_sp_server(
    listener: Any, names_signed: dict[str, bool], idp_metadata: Path, idp_entity_id: str
) -> SpServer:
    """Serve one pysaml2 SP per name on the bound ``listener``."""
    host, port = listener.getsockname()[:2]
    base = f"http://{host}:{port}"
    sps: dict[str, PysamlSp] = {}
    for name, signed in names_signed.items():
        config = SPConfig()
        config.load(sp_settings(name, base, sign_requests=signed, idp_metadata=idp_metadata))
        sps[name] = PysamlSp(name, Saml2Client(config))
    try:
        server = make_server(
            host, port, _app(sps, idp_entity_id), threaded=True, fd=listener.fileno()
        )
    finally:
        listener.close()
    thread = threading.Thread(target=server.serve_forever, name="pysaml2-sp", daemon=True)
    thread.start()
    return SpServer(base, sps, server, thread)
