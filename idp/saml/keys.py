"""Signing key pairs: load PEM files, check that key and certificate belong together."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.errors import KeyLoadError


@dataclass(frozen=True)
class KeyPair:
    """An RSA private key with its X.509 certificate, both as PEM."""

    key_pem: bytes = field(repr=False)
    """The unencrypted PKCS#8 private key (decrypted once at load time)."""
    cert_pem: bytes
    """The PEM certificate published in metadata and KeyInfo."""
    name: str = "signing"
    """A label for messages and metadata (e.g. the file name)."""
    parsed_key: rsa.RSAPrivateKey | None = field(default=None, repr=False, compare=False)
    """The key already parsed (and checked) at load time; parsed from ``key_pem`` when None."""

    def __getstate__(self) -> dict[str, object]:
        """Pickle without the parsed key and certificate (they do not pickle; they are parsed
        again from the PEM on the other side, e.g. a process pool that spawns)."""
        state = dict(self.__dict__)
        state.pop("private_key", None)  # cached_property values
        state.pop("certificate", None)
        state["parsed_key"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore a pickled key pair (frozen: its attributes are set directly)."""
        self.__dict__.update(state)

    @cached_property
    def certificate(self) -> x509.Certificate:
        """Return the parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert_pem)

    @cached_property
    def cert_base64(self) -> str:
        """Return the DER certificate in base64, as it appears in ds:X509Certificate."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return base64.b64encode(der).decode("ascii")

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """Return the parsed private key (parsing and checking it costs about 100 signatures)."""
        if self.parsed_key is not None:
            return self.parsed_key
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101 - enforced in load_key_pair
        return key

    @property
    def key_bits(self) -> int:
        """Return the RSA modulus size."""
        public = self.certificate.public_key()
        assert isinstance(public, rsa.RSAPublicKey)  # noqa: S101 - enforced in load_key_pair
        return public.key_size


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


def key_pair_from_pem(
    key_pem: bytes, cert_pem: bytes, *, password: str | None = None, name: str = "signing"
) -> KeyPair:
    """Decrypt and pair a PEM key and certificate, raising KeyLoadError when they do not match."""
    try:
        private_key = serialization.load_pem_private_key(
            key_pem, password=password.encode() if password is not None else None
        )
    except TypeError:
        if password is None:
            raise KeyLoadError(f"{name}: the private key is encrypted; give its password") from None
        raise KeyLoadError(f"{name}: the private key is not encrypted; drop the password") from None
    except ValueError as exc:
        if password is not None:
            raise KeyLoadError(f"{name}: wrong password for the private key") from None
        raise KeyLoadError(f"{name}: not a PEM private key ({exc})") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise KeyLoadError(f"{name}: only RSA signing keys are supported")
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise KeyLoadError(f"{name}: not a PEM certificate ({exc})") from None
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or (
        public.public_numbers() != private_key.public_key().public_numbers()
    ):
        raise KeyLoadError(f"{name}: the certificate does not belong to the private key")
    if public.key_size < 1024:
        raise KeyLoadError(f"{name}: RSA keys under 1024 bits are refused by AWS")
    plain_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return KeyPair(
        key_pem=plain_pem,
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        name=name,
        parsed_key=private_key,
    )


def load_key_pair(key_path: Path, cert_path: Path, *, password: str | None = None) -> KeyPair:
    """Load a key pair from PEM files."""
    key_pem = _read(key_path, "private key")
    cert_pem = _read(cert_path, "certificate")
    try:
        return key_pair_from_pem(key_pem, cert_pem, password=password, name=str(key_path))
    except KeyLoadError as exc:
        if exc.message.startswith(str(key_path)):
            raise
        raise KeyLoadError(f"{key_path}: {exc.message}") from None
