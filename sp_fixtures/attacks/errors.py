"""Errors of the attack package: one root, each leaf with a stable code."""

from __future__ import annotations


class AttackError(ValueError):
    """Root of the attack package's errors."""

    code = "attack_error"


class CatalogueError(AttackError):
    """``catalogue.yaml`` holds an entry the harness cannot use."""

    code = "catalogue_invalid"


class GeneratorError(AttackError):
    """An attack cannot be built for this IdP, user or target."""

    code = "not_buildable"


class SurgeryError(GeneratorError):
    """The bytes are not the plain serialisation the byte-level tools understand."""

    code = "unsupported_markup"


class TargetError(AttackError):
    """The target URL is not one the runner may post forged responses to."""

    code = "target_refused"
