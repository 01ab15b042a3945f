"""Errors of the mock IdP: one root, each leaf with a stable code."""

from __future__ import annotations


class IdpError(Exception):
    """Root of every error the IdP raises on bad input or configuration."""

    code = "idp_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyLoadError(IdpError):
    """A signing key or certificate cannot be read, decrypted or paired."""

    code = "key_load"


class SigningError(IdpError):
    """xmlsec could not sign the document."""

    code = "signing"


class UnknownServiceProviderError(IdpError):
    """The named service provider is not registered with the IdP."""

    code = "unknown_sp"


class MappingError(IdpError):
    """A mapping engine could not turn a user's groups into attributes."""

    code = "mapping"
