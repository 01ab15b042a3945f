"""Independent SAML implementations used to check what we sign: xmlsec1, signxml, pysaml2."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None,
    reason="the xmlsec1 command-line tool is not installed (apt-get install xmlsec1)",
)


def xmlsec1_verify(
    document: bytes, cert_pem: bytes, *, node: str
) -> subprocess.CompletedProcess[str]:
    """Run ``xmlsec1 --verify`` on the Signature inside ``node`` (Response or Assertion)."""
    assert XMLSEC1 is not None
    namespace = {
        "Response": "urn:oasis:names:tc:SAML:2.0:protocol",
        "Assertion": "urn:oasis:names:tc:SAML:2.0:assertion",
    }[node]
    with tempfile.TemporaryDirectory() as folder:
        doc_path = Path(folder) / "doc.xml"
        cert_path = Path(folder) / "cert.pem"
        doc_path.write_bytes(document)
        cert_path.write_bytes(cert_pem)
        return subprocess.run(
            [
                XMLSEC1,
                "--verify",
                "--pubkey-cert-pem",
                str(cert_path),
                "--id-attr:ID",
                f"{namespace}:{node}",
                "--node-xpath",
                f"//*[local-name()='{node}']/*[local-name()='Signature']",
                str(doc_path),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )


def pysaml2_sp_accepts(
    saml_response_b64: str, metadata: bytes, *, entity_id: str, acs: str
) -> dict[str, list[str]]:
    """Parse ``saml_response_b64`` with pysaml2 as an SP; return its attributes or raise."""
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    with tempfile.TemporaryDirectory() as folder:
        metadata_path = Path(folder) / "idp.xml"
        metadata_path.write_bytes(metadata)
        config = SPConfig()
        config.load(
            {
                "entityid": entity_id,
                "metadata": {"local": [str(metadata_path)]},
                "service": {
                    "sp": {
                        "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
                        "allow_unsolicited": True,
                        "want_assertions_signed": False,
                        "want_response_signed": False,
                        "want_assertions_or_response_signed": True,
                    }
                },
                "xmlsec_binary": XMLSEC1,
                "allow_unknown_attributes": True,
            }
        )
        client = Saml2Client(config)
        parsed = client.parse_authn_request_response(saml_response_b64, BINDING_HTTP_POST)
        if parsed is None:
            raise AssertionError("pysaml2 returned no response")
        identity: dict[str, list[str]] = parsed.get_identity()
        return identity


def b64(document: bytes) -> str:
    return base64.b64encode(document).decode("ascii")
