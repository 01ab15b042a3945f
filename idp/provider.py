"""The mock IdP as a Python object: directory + mapping + keys → signed SAML responses."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.config import (
    EncryptionSettings,
    IdpFile,
    IdpSettings,
    KeyFiles,
    ServiceProviderSettings,
)
from idp.directory import Directory, User
from idp.errors import IdpError, UnknownServiceProviderError
from idp.mapping.base import MappingEngine, MappingInput, MappingResult, merge_attributes
from idp.mapping.explicit import ExplicitMapping
from idp.saml.builder import (
    AssertionSpec,
    ResponseSpec,
    SamlAttribute,
    aws_assertion_spec,
    build_assertion,
    build_response,
    new_id,
    to_bytes,
)
from idp.saml.compiled import signed_response
from idp.saml.constants import (
    PRINCIPAL_TAG_PREFIX,
    AwsAttribute,
    DataEncryption,
    NameIDFormat,
    SignatureAlgorithm,
)
from idp.saml.encryption import replace_with_encrypted
from idp.saml.keys import KeyPair, load_key_pair
from idp.saml.metadata import IdpEndpoints, MetadataSpec, metadata_bytes
from idp.saml.signing import SigningConfig, SignTarget, sign_element
from idp.templates import render
from idp.yamlfile import load_yaml, validate

_ALGORITHMS = {
    "rsa-sha1": SignatureAlgorithm.RSA_SHA1,
    "rsa-sha256": SignatureAlgorithm.RSA_SHA256,
    "rsa-sha512": SignatureAlgorithm.RSA_SHA512,
}
_DATA_ENCRYPTION = {
    "aes128-cbc": DataEncryption.AES128_CBC,
    "aes256-cbc": DataEncryption.AES256_CBC,
    "aes128-gcm": DataEncryption.AES128_GCM,
    "aes256-gcm": DataEncryption.AES256_GCM,
}


class RoleNotGrantedError(IdpError):
    """A specific role was asked for but the mapping does not grant it to the user."""

    code = "role_not_granted"


@dataclass(frozen=True)
class IssuedResponse:
    """A signed SAML response and what went into it."""

    xml: bytes
    """The serialised ``samlp:Response`` (exactly the signed bytes)."""
    user: str
    service_provider: str
    recipient: str
    mapping: MappingResult

    @property
    def saml_response(self) -> str:
        """Return the base64 form posted as ``SAMLResponse`` and given to STS."""
        return base64.b64encode(self.xml).decode("ascii")


def _load_keys(files: KeyFiles, base_dir: Path) -> KeyPair:
    return load_key_pair(base_dir / files.key, base_dir / files.cert, password=files.password)


def build_engine(
    settings: IdpSettings, *, base_dir: Path = Path(), directory: Directory | None = None
) -> MappingEngine:
    """Return the mapping engine the settings choose (an empty explicit table when none is)."""
    from idp.mapping.lint import ENGINES

    if settings.mapping.adfs is not None:
        from idp.mapping.adfs import AdfsMapping

        return AdfsMapping(settings.mapping.adfs, base_dir=base_dir, directory=directory)
    for name in settings.mapping.chosen():
        config = getattr(settings.mapping, name)
        return ENGINES[name][1](config)
    from idp.mapping.explicit import ExplicitMappingConfig

    return ExplicitMapping(ExplicitMappingConfig())


class IdentityProvider:
    """Issue signed SAML responses for the users of a directory."""

    def __init__(
        self,
        settings: IdpSettings,
        directory: Directory,
        *,
        base_dir: Path,
        engine: MappingEngine | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.base_dir = base_dir
        self.engine = engine or build_engine(settings, base_dir=base_dir, directory=directory)
        self.current_key = _load_keys(settings.signing, base_dir)
        self.next_key = (
            _load_keys(settings.signing.next_key, base_dir) if settings.signing.next_key else None
        )

    @classmethod
    def from_file(cls, path: Path) -> IdentityProvider:
        """Load an IdP (or scenario) file; errors are ``file:line: message``."""
        loaded = load_yaml(path)
        config = validate(IdpFile, loaded)
        base_dir = path.parent
        directory = Directory.from_config(config.directory, base_dir)
        try:
            return cls(config.idp, directory, base_dir=base_dir)
        except IdpError as exc:
            raise IdpError(f"{path}: {exc.message}") from None

    @property
    def signing_key(self) -> KeyPair:
        """Return the key that signs now."""
        if self.settings.signing.sign_with == "next" and self.next_key is not None:
            return self.next_key
        return self.current_key

    @property
    def published_keys(self) -> tuple[KeyPair, ...]:
        """Return every key listed in metadata: the current one, then the next one."""
        return (self.current_key,) + ((self.next_key,) if self.next_key else ())

    def metadata(self, *, valid_until: dt.datetime | None = None) -> bytes:
        """Return the IdP metadata document."""
        base = self.settings.base_url.rstrip("/")
        return metadata_bytes(
            MetadataSpec(
                entity_id=self.settings.entity_id,
                signing_keys=self.published_keys,
                endpoints=IdpEndpoints(sso_url=f"{base}/sso", slo_url=f"{base}/slo"),
                valid_until=valid_until,
            )
        )

    def service_provider(self, name: str) -> ServiceProviderSettings:
        """Return a registered SP, or raise UnknownServiceProviderError."""
        try:
            return self.settings.service_providers[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.service_providers)) or "none"
            raise UnknownServiceProviderError(
                f"unknown service provider {name!r} (registered: {known})"
            ) from None

    def map_user(self, user: User | str) -> MappingResult:
        """Return every attribute the IdP sends for ``user``, with the mapping trace."""
        if isinstance(user, str):
            user = self.directory.user(user)
        subject = MappingInput(
            user=user,
            groups=self.directory.groups_of(user),
            direct_groups=self.directory.direct_groups_of(user),
        )
        result = self.engine.map(subject)
        # The engine's attributes go out exactly as its IdP lays them out, several elements of
        # one name included (Keycloak's role list with Single Role Attribute off, JumpCloud's
        # Role mappings; reference §4, §8.9). The configured `attributes` fill in only names
        # the engine did not send, one element per name.
        emitted = {attribute.name for attribute in result.attributes}
        extra = [a for a in self._configured_attributes(user) if a.name not in emitted]
        return MappingResult(
            attributes=(*result.attributes, *merge_attributes(extra)), trace=result.trace
        )

    def _configured_attributes(self, user: User) -> list[SamlAttribute]:
        config = self.settings.attributes
        attributes: list[SamlAttribute] = []
        # An IdP engine that builds its own attributes (ADFS rules, Okta, Entra …) sends no
        # RoleSessionName unless the admin configured one there; the default template applies
        # to the explicit table only, or when set explicitly.
        session_name_applies = (
            self.engine.name == "explicit" or "role_session_name" in config.model_fields_set
        )
        if config.role_session_name is not None and session_name_applies:
            attributes.append(
                SamlAttribute(
                    AwsAttribute.ROLE_SESSION_NAME, (render(config.role_session_name, user),)
                )
            )
        if config.session_duration is not None:
            attributes.append(
                SamlAttribute(AwsAttribute.SESSION_DURATION, (str(config.session_duration),))
            )
        for key, template in config.principal_tags.items():
            attributes.append(SamlAttribute(PRINCIPAL_TAG_PREFIX + key, (render(template, user),)))
        if config.transitive_tag_keys:
            attributes.append(
                SamlAttribute(AwsAttribute.TRANSITIVE_TAG_KEYS, tuple(config.transitive_tag_keys))
            )
        if config.source_identity is not None:
            attributes.append(
                SamlAttribute(AwsAttribute.SOURCE_IDENTITY, (render(config.source_identity, user),))
            )
        for name, templates in config.extra.items():
            values = [templates] if isinstance(templates, str) else templates
            attributes.append(SamlAttribute(name, tuple(render(t, user) for t in values)))
        return attributes

    def rules_name_id(self, mapping: MappingResult) -> tuple[str, str | None] | None:
        """Return the NameID value and format the ADFS claim rules issued (None otherwise)."""
        if self.engine.name != "adfs":
            return None
        from idp.mapping.adfs import issued_name_id  # late: needs lark

        issued = issued_name_id(mapping)
        return None if issued is None else (issued.value, issued.format)

    def name_id_for(self, user: User) -> str:
        """Return the NameID value for ``user`` as the settings say."""
        source = self.settings.name_id.source
        value = getattr(user, source) or (user.name_id if source == "name_id" else None)
        if not value:
            raise IdpError(f"user {user.name!r} has no {source} for the NameID")
        return str(value)

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
    ) -> IssuedResponse:
        """Build, sign (and encrypt, when the SP asks) a response for ``user_name``.

        ``role_arn`` keeps only that role's pair in the Role attribute; the overrides replace
        fields of :class:`AssertionSpec` / :class:`ResponseSpec`, including with wrong values.
        """
        now = now or dt.datetime.now(dt.UTC)
        user = self.directory.user(user_name)
        service_provider = self.service_provider(sp)
        mapping = self.map_user(user)
        attributes = mapping.attributes
        from_rules = self.rules_name_id(mapping)
        name_id_value, name_id_short = from_rules or (self.name_id_for(user), None)
        if role_arn is not None:
            attributes = _only_role(attributes, role_arn, user.name)
        recipient = recipient or service_provider.acs
        name_id_format = NameIDFormat.from_short(
            service_provider.name_id_format or name_id_short or self.settings.name_id.format
        )
        if name_id_format == NameIDFormat.TRANSIENT and from_rules is None:
            # A transient NameID is opaque and new for every assertion (SAML core §8.3.8), as
            # the web sign-in sends it; a value the claim rules issue stays theirs.
            name_id_value = new_id()
        assertion_spec: AssertionSpec = aws_assertion_spec(
            issuer=self.settings.entity_id,
            name_id=name_id_value,
            name_id_format=name_id_format,
            attributes=attributes,
            now=now,
            lifetime=dt.timedelta(seconds=self.settings.assertion_lifetime),
            recipient=recipient,
            audiences=tuple(service_provider.audience),
            in_response_to=in_response_to,
        )
        if assertion_overrides:
            assertion_spec = dataclasses.replace(assertion_spec, **assertion_overrides)
        response_spec = ResponseSpec(
            issuer=self.settings.entity_id,
            issue_instant=now,
            destination=recipient,
            in_response_to=in_response_to,
        )
        if response_overrides:
            response_spec = dataclasses.replace(response_spec, **response_overrides)
        signing = SigningConfig(
            key=self.signing_key,
            target=SignTarget(service_provider.sign or self.settings.signing.sign),
            algorithm=_ALGORITHMS[self.settings.signing.algorithm],
        )
        if service_provider.encrypt is None:
            xml = signed_response(assertion_spec, response_spec, signing)
        else:
            xml = self._encrypted_response(
                assertion_spec, response_spec, signing, service_provider.encrypt
            )
        return IssuedResponse(
            xml=xml,
            user=user.name,
            service_provider=sp,
            recipient=recipient,
            mapping=mapping,
        )

    def _encrypted_response(
        self,
        assertion_spec: AssertionSpec,
        response_spec: ResponseSpec,
        signing: SigningConfig,
        encrypt: EncryptionSettings,
    ) -> bytes:
        """Build the response as trees: sign the assertion, encrypt it, then sign the response."""
        assertion = build_assertion(assertion_spec)
        response = build_response(response_spec, assertion)
        if signing.target.assertion:
            sign_element(assertion, signing.key, algorithm=signing.algorithm)
        replace_with_encrypted(
            response,
            assertion,
            _read_cert(self.base_dir / encrypt.cert),
            data_algorithm=_DATA_ENCRYPTION[encrypt.algorithm],
        )
        if signing.target.response:
            sign_element(response, signing.key, algorithm=signing.algorithm)
        return to_bytes(response)


def _read_cert(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdpError(f"{path}: cannot read encryption certificate: {exc.strerror}") from None


def _only_role(
    attributes: tuple[SamlAttribute, ...], role_arn: str, user: str
) -> tuple[SamlAttribute, ...]:
    """Keep only the Role values naming ``role_arn``; a Role element left empty is dropped, so
    the layout (one element or one per role) stays the engine's."""

    def grants(value: str) -> bool:
        return role_arn in (part.strip() for part in value.split(","))

    offered = [v for a in attributes if a.name == AwsAttribute.ROLE for v in a.values]
    if not any(grants(v) for v in offered):
        raise RoleNotGrantedError(
            f"{user} is not granted {role_arn} (granted: {', '.join(offered) or 'none'})"
        )
    kept: list[SamlAttribute] = []
    for attribute in attributes:
        if attribute.name != AwsAttribute.ROLE:
            kept.append(attribute)
        elif values := tuple(v for v in attribute.values if grants(v)):
            kept.append(dataclasses.replace(attribute, values=values))
    return tuple(kept)
