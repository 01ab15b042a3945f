"""Generate self-signed signing certificates for the mock IdP (test use only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ALLOWED_BITS = (2048, 3072, 4096)
MAX_COMMON_NAME_BYTES = 64
"""X.509's upper bound for a common name (RFC 5280 ub-common-name), counted in UTF-8 bytes as
``cryptography`` counts it."""


@dataclass(frozen=True)
class GeneratedPair:
    """A freshly generated key and certificate as PEM."""

    key_pem: bytes
    cert_pem: bytes


def common_name_problem(common_name: str) -> str | None:
    """Return why ``common_name`` cannot be a certificate's CN, or None when it can."""
    try:
        size = len(common_name.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid text (the command line was not UTF-8?)"
    if not 1 <= size <= MAX_COMMON_NAME_BYTES:
        return (
            f"must be 1 to {MAX_COMMON_NAME_BYTES} bytes of UTF-8 text, not {size} "
            "(RFC 5280 ub-common-name)"
        )
    return None


def generate_self_signed(
    common_name: str = "fedharness mock IdP",
    *,
    bits: int = 2048,
    valid_days: int = 3650,
    now: dt.datetime | None = None,
) -> GeneratedPair:
    """Create an RSA key and a self-signed certificate valid from ``now`` for ``valid_days``."""
    if bits not in ALLOWED_BITS:
        raise ValueError(f"bits must be one of {', '.join(map(str, ALLOWED_BITS))}, not {bits}")
    problem = common_name_problem(common_name)
    if problem is not None:
        raise ValueError(f"common name {common_name!r}: {problem}")
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedharness (test only)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return GeneratedPair(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def write_pair(pair: GeneratedPair, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.key`` (mode 0600) and ``stem.crt`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path = out_dir / f"{stem}.key"
    cert_path = out_dir / f"{stem}.crt"
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(pair.key_pem)
    cert_path.write_bytes(pair.cert_pem)
    return key_path, cert_path
