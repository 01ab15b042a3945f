"""Build every catalogue attack, and the untampered control, from a fresh mock-IdP response::

    generator = AttackGenerator(identity_provider, Target(user="alice"))
    control = generator.control()        # must be accepted by the SP under test
    built = generator.build("xsw3")      # must be refused
    built.saml_response                  # base64, ready to POST to an ACS

Each build issues a new baseline (current times, the target's audience and recipient) and
changes it as the catalogue says, editing bytes so the signed element is never re-serialised
(:mod:`sp_fixtures.attacks.surgery`). The evil NameID or Role differs from the genuine one, so an
accepted attack is visible; :attr:`BuiltAttack.seen_if_accepted` says what an SP would see.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from idp.saml.constants import NS, qname
from idp.saml.keys import KeyPair
from sp_fixtures.attacks import resigned, tampering, wrapping  # noqa: F401 - register builders
from sp_fixtures.attacks.catalogue import (
    Attack,
    Expected,
    Family,
    Layout,
    attack_by_id,
    load_catalogue,
)
from sp_fixtures.attacks.errors import GeneratorError
from sp_fixtures.attacks.workshop import (
    BUILDERS,
    Identity,
    MockIdp,
    Target,
    Workshop,
)

__all__ = [
    "CONTROL",
    "AttackGenerator",
    "BuiltAttack",
    "GeneratorError",
    "Identity",
    "MockIdp",
    "Target",
    "carries_valid_signature",
    "cloned_key",
]

DEFAULT_CANARY = "http://127.0.0.1:9/fedharness-canary"
"""Out-of-band URL used when no canary listener runs (port 9 discards)."""

CONTROL = Attack(
    id="control",
    family=Family.WRAPPING,
    changes="Nothing: the genuine response, freshly signed (positive control).",
    layout="assertion",
    evil="none",
    expect=Expected(verifier=None, sts_rule=None, aws_error=None),
    sources=("saml-attacks.md §8 (prove the SP accepts the baseline first)",),
)
"""The positive control: every SP under test must accept it."""


@dataclass(frozen=True)
class BuiltAttack:
    """One attack (or the control) ready to send."""

    attack: Attack
    documents: tuple[bytes, ...]
    """Decoded SAMLResponses in sending order; all but the last prime the SP (replays)."""
    genuine: Identity
    seen_if_accepted: Identity | None
    """What an SP that accepts it would log in as; None when it carries no evil value."""

    @property
    def document(self) -> bytes:
        """Return the decoded SAMLResponse that is judged."""
        return self.documents[-1]

    @property
    def saml_response(self) -> str:
        """Return the judged document in base64, as posted in ``SAMLResponse``."""
        return base64.b64encode(self.document).decode("ascii")

    @property
    def saml_responses(self) -> tuple[str, ...]:
        """Return every document in base64, in sending order."""
        return tuple(base64.b64encode(document).decode("ascii") for document in self.documents)

    @property
    def is_control(self) -> bool:
        """Return whether this is the untampered positive control."""
        return self.attack.id == CONTROL.id

    @property
    def role_arn(self) -> str | None:
        """Return the role an AssumeRoleWithSAML call should ask for: the evil one if carried."""
        seen = self.seen_if_accepted
        return (seen.role_arn if seen is not None and seen.role_arn else None) or (
            self.genuine.role_arn
        )

    @property
    def principal_arn(self) -> str | None:
        """Return the SAML provider ARN of the role asked for."""
        seen = self.seen_if_accepted
        return (seen.provider_arn if seen is not None and seen.role_arn else None) or (
            self.genuine.provider_arn
        )


class AttackGenerator:
    """Build the catalogue's attacks for one user and target SP of a mock IdP."""

    def __init__(
        self,
        idp: MockIdp,
        target: Target,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        canary_url: str = DEFAULT_CANARY,
    ) -> None:
        self.idp = idp
        self.target = target
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.canary_url = canary_url.rstrip("/")
        self._attacker: KeyPair | None = None
        self._identities: tuple[Identity, Identity] | None = None
        probe = self._workshop()
        self.genuine = probe.genuine
        """The user's NameID and first Role value, as the IdP issues them."""
        self.evil = probe.evil
        """The NameID and Role value the attacks try to smuggle in."""

    def attacker_key(self) -> KeyPair:
        """Return this generator's throw-away key pair (trusted by nobody)."""
        if self._attacker is None:
            self._attacker = _generate_key("fedharness attacker (not trusted)")
        return self._attacker

    def _workshop(self) -> Workshop:
        workshop = Workshop(
            self.idp,
            self.target,
            now=self.clock(),
            canary_url=self.canary_url,
            attacker_key=self.attacker_key,
            identities=self._identities,
        )
        self._identities = (workshop.genuine, workshop.evil)
        return workshop

    def baseline(self, layout: Layout = "assertion") -> bytes:
        """Return a genuine response freshly signed as ``layout`` (e.g. to mutate it)."""
        return self._workshop().baseline(layout).data

    def control(self) -> BuiltAttack:
        """Return the untampered, freshly signed response: the SP must accept it."""
        workshop = self._workshop()
        document = workshop.baseline("assertion").data
        return BuiltAttack(CONTROL, (document,), workshop.genuine, None)

    def build(self, attack: Attack | str) -> BuiltAttack:
        """Return one attack, built now from a fresh baseline."""
        if isinstance(attack, str):
            if attack == CONTROL.id:
                return self.control()
            attack = attack_by_id(attack)
        workshop = self._workshop()
        built = BUILDERS[attack.id](workshop, attack)
        return BuiltAttack(attack, built.documents, workshop.genuine, built.seen_if_accepted)

    def build_all(self, attacks: Iterable[Attack] | None = None) -> list[BuiltAttack]:
        """Return every attack (or the given ones), each from its own fresh baseline."""
        return [self.build(attack) for attack in (attacks or load_catalogue())]


def _generate_key(
    common_name: str,
    *,
    subject: x509.Name | None = None,
    issuer: x509.Name | None = None,
    serial: int | None = None,
    private: rsa.RSAPrivateKey | None = None,
) -> KeyPair:
    """Make an RSA-2048 key (or reuse ``private``) with a self-made certificate."""
    key = private or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject or name)
        .issuer_name(issuer or subject or name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(
        key_pem=key_pem,
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        name=common_name,
    )


@functools.lru_cache(maxsize=8)
def cloned_key(genuine: KeyPair, attacker: KeyPair) -> KeyPair:
    """Return the attacker's key in a certificate copying ``genuine``'s subject and serial."""
    private = serialization.load_pem_private_key(attacker.key_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)  # noqa: S101 - we generated it
    original = genuine.certificate
    return _generate_key(
        "clone",
        subject=original.subject,
        issuer=original.issuer,
        serial=original.serial_number,
        private=private,
    )


def carries_valid_signature(document: bytes, cert_pem: bytes) -> bool:
    """Return whether some ds:Signature in ``document`` verifies with ``cert_pem`` over an
    element its Reference names (wherever that element now sits).

    Used to show a wrapping variant is a real attack: the signature is intact, only the
    structure around it changed. Each candidate is checked standalone, so duplicate IDs and
    unusual positions do not matter.
    """
    try:
        root = etree.fromstring(
            document,
            parser=etree.XMLParser(  # noqa: S320 - hardened
                resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
            ),
        )
    except etree.XMLSyntaxError:
        return False
    key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    for signature in root.iter(qname(NS.DS, "Signature")):
        reference = signature.find(f"{qname(NS.DS, 'SignedInfo')}/{qname(NS.DS, 'Reference')}")
        uri = reference.get("URI", "") if reference is not None else ""
        if not uri.startswith("#"):
            continue
        for element in root.iter():
            if (
                isinstance(element.tag, str)
                and element.get("ID") == uri[1:]
                and _verifies(element, signature, key)
            ):
                return True
    return False


_REFERENCE_TRANSFORMS = (
    xmlsec.constants.TransformEnveloped,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformSha1,
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha512,
)
_SIGNATURE_TRANSFORMS = (
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformRsaSha1,
    xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha512,
)
_SIGNATURE_PARTS = frozenset(
    qname(NS.DS, local) for local in ("SignedInfo", "SignatureValue", "KeyInfo")
)


def _verifies(element: etree._Element, signature: etree._Element, key: xmlsec.Key) -> bool:
    standalone = copy.deepcopy(element)
    for own in standalone.findall(qname(NS.DS, "Signature")):
        standalone.remove(own)
    detached = copy.deepcopy(signature)
    for child in list(detached):
        if child.tag not in _SIGNATURE_PARTS:
            detached.remove(child)
    standalone.insert(0, detached)
    context = xmlsec.SignatureContext()
    context.key = key
    # Only what a genuine IdP signature uses: never run an attacker's XSLT or XPath transform.
    for transform in _REFERENCE_TRANSFORMS:
        context.enable_reference_transform(transform)
    for transform in _SIGNATURE_TRANSFORMS:
        context.enable_signature_transform(transform)
    context.register_id(standalone, "ID")
    try:
        context.verify(standalone[0])
    except xmlsec.Error:
        return False
    return True
