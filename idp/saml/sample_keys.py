"""The sample certificates shipped in ``certs/``: their keys are public, so live AWS refuses them.

The fingerprints are constants (not read from ``certs/`` at run time) so that the check works from
an installed wheel too; a test recomputes them from the repository so they never drift.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

SAMPLE_CERT_SHA256: frozenset[str] = frozenset(
    {
        # certs/sample-idp.crt
        "818b7bb9badb31b97f0a2cbe0790fc85c539f36bf3a394f66a044ed776fbaed4",
        # certs/sample-idp-next.crt
        "7eedb17966a0f8f0addfa98847183fc1cc7161e0fa2fa5852cdb3ee094c1c752",
        # certs/sample-sp.crt
        "64e9c7820cfc26fbdca1f44cddc5aa1a1b2413a404a0ac6f009233a846540519",
    }
)
"""SHA-256 fingerprints (lowercase hex of the DER certificate) of ``certs/sample-*.crt``."""

_PEM_MARKER = b"-----BEGIN CERTIFICATE-----"
_WHITESPACE = re.compile(rb"\s+")


def certificate_sha256(cert_pem_or_der_b64: str | bytes) -> str:
    """Return the SHA-256 fingerprint (lowercase hex) of a PEM or base64-DER certificate.

    Base64 DER is how certificates appear in ``ds:X509Certificate``; whitespace is ignored.
    Raises ValueError when the input is not a certificate.
    """
    data = (
        cert_pem_or_der_b64.encode("ascii", "replace")
        if isinstance(cert_pem_or_der_b64, str)
        else cert_pem_or_der_b64
    )
    if _PEM_MARKER in data:
        certificate = x509.load_pem_x509_certificate(data)
    else:
        try:
            der = base64.b64decode(_WHITESPACE.sub(b"", data), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"not a PEM or base64 DER certificate: {exc}") from None
        certificate = x509.load_der_x509_certificate(der)
    der_bytes = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der_bytes)
    return digest.finalize().hex()


def normalize_fingerprint(fingerprint: str) -> str:
    """Return a SHA-256 fingerprint as lowercase hex without separators (``AB:CD`` → ``abcd``)."""
    return fingerprint.replace(":", "").replace(" ", "").lower()


def is_sample_certificate(cert_pem_or_der_b64: str | bytes) -> bool:
    """Tell whether a PEM or base64-DER certificate is one of the repository's sample ones."""
    return certificate_sha256(cert_pem_or_der_b64) in SAMPLE_CERT_SHA256
