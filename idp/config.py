"""The IdP configuration file: the ``idp`` and ``directory`` parts of a scenario file.

Validated by pydantic; every mistake is reported as ``file:line: message`` (idp.yamlfile).
Paths inside the file are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from idp.directory import DirectoryConfig
from idp.mapping.adfs import AdfsMappingConfig
from idp.mapping.custom_attribute import GoogleWorkspaceConfig, JumpCloudConfig
from idp.mapping.entra import EntraAwsConfig
from idp.mapping.explicit import ExplicitMappingConfig
from idp.mapping.keycloak import KeycloakConfig
from idp.mapping.okta import OktaAwsConfig, OktaSamlGroupsConfig
from idp.saml.constants import AWS_SIGNIN_URL
from idp.web_settings import WebSettings

AlgorithmName = Literal["rsa-sha1", "rsa-sha256", "rsa-sha512"]
SignTargetName = Literal["assertion", "response", "both", "none"]
NameIdFormatName = Literal["persistent", "transient", "email", "unspecified"]
DataEncryptionName = Literal["aes128-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyFiles(_Strict):
    """A PEM private key and its certificate."""

    key: Path = Field(description="PEM private key file (PKCS#1 or PKCS#8, optionally encrypted).")
    cert: Path = Field(description="PEM X.509 certificate of that key.")
    password: str | None = Field(None, description="Password of an encrypted private key.")


class SigningSettings(KeyFiles):
    """How the IdP signs; ``key``/``cert`` are the current key."""

    sign: SignTargetName = Field("assertion", description="What to sign.")
    algorithm: AlgorithmName = Field("rsa-sha256", description="Signature algorithm.")
    next_key: KeyFiles | None = Field(
        None, description="A second key for rollover: listed in metadata next to the current one."
    )
    sign_with: Literal["current", "next"] = Field(
        "current", description="Which of the two keys signs responses."
    )

    @model_validator(mode="after")
    def _next_key_exists(self) -> SigningSettings:
        if self.sign_with == "next" and self.next_key is None:
            raise ValueError("sign_with is 'next' but no next_key is configured")
        return self


class EncryptionSettings(_Strict):
    """Encrypt assertions for an SP (AWS's encrypted-assertion mode)."""

    cert: Path = Field(description="The SP's encryption certificate (PEM).")
    algorithm: DataEncryptionName = Field("aes256-gcm", description="Content encryption.")


class ServiceProviderSettings(_Strict):
    """A relying party the IdP sends assertions to."""

    acs: str = Field(AWS_SIGNIN_URL, description="Assertion Consumer Service URL (Recipient).")
    audience: list[str] = Field(
        default_factory=lambda: [AWS_SIGNIN_URL],
        description="Audience values of the AudienceRestriction.",
    )
    name_id_format: NameIdFormatName | None = Field(
        None, description="NameID format for this SP; the IdP's default when absent."
    )
    sign: SignTargetName | None = Field(None, description="Override what is signed for this SP.")
    encrypt: EncryptionSettings | None = Field(None, description="Encrypt the assertion.")


class NameIdSettings(_Strict):
    """What goes in the Subject's NameID."""

    format: NameIdFormatName = "persistent"
    source: Literal["name", "email", "upn", "name_id"] = Field(
        "name", description="User field that becomes the NameID value."
    )


class AttributeSettings(_Strict):
    """Attributes the IdP adds besides the mapping engine's Role values.

    Values are templates: ``{name}``, ``{email}``, ``{upn}``, ``{display_name}``,
    ``{given_name}``, ``{surname}`` or ``{attr:NAME}`` for a directory attribute.
    """

    role_session_name: str | None = Field(
        "{email}", description="RoleSessionName template; null to leave it out."
    )
    session_duration: int | None = Field(None, description="SessionDuration in seconds.")
    principal_tags: dict[str, str] = Field(
        default_factory=dict, description="Session tag key → value template."
    )
    transitive_tag_keys: list[str] = Field(default_factory=list)
    source_identity: str | None = Field(None, description="SourceIdentity template.")
    extra: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Any other attribute: name → template(s)."
    )


class MappingSettings(_Strict):
    """Which mapping engine turns groups into Role values; at most one key (explicit when none)."""

    explicit: ExplicitMappingConfig | None = Field(
        None, description="An explicit group → role table."
    )
    okta_aws: OktaAwsConfig | None = Field(
        None, description="Okta's AWS Account Federation app (group filter, role pattern)."
    )
    okta_saml_groups: OktaSamlGroupsConfig | None = Field(
        None, description="Okta's generic SAML app with group attribute statements."
    )
    entra: EntraAwsConfig | None = Field(
        None, description="Entra ID AWS Single-Account Access (app roles)."
    )
    keycloak: KeycloakConfig | None = Field(
        None, description="Keycloak client roles named as ARN pairs."
    )
    google_workspace: GoogleWorkspaceConfig | None = Field(
        None, description="Google Workspace custom attributes."
    )
    jumpcloud: JumpCloudConfig | None = Field(
        None, description="JumpCloud user and group attributes."
    )
    adfs: AdfsMappingConfig | None = Field(
        None, description="ADFS claim rules (as exported), evaluated with ADFS semantics."
    )

    @model_validator(mode="after")
    def _one_engine(self) -> MappingSettings:
        chosen = self.chosen()
        if len(chosen) > 1:
            raise ValueError(f"choose one mapping engine, not {' and '.join(chosen)}")
        return self

    def chosen(self) -> list[str]:
        """Return the names of the engines configured (at most one when valid)."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class IdpSettings(_Strict):
    """The mock IdP."""

    entity_id: str = Field(description="The IdP's entityID; the Issuer of every response.")
    base_url: str = Field(
        "http://127.0.0.1:5000", description="Where the IdP is served; SSO/SLO URLs in metadata."
    )
    signing: SigningSettings
    name_id: NameIdSettings = Field(default_factory=NameIdSettings)
    attributes: AttributeSettings = Field(default_factory=AttributeSettings)
    mapping: MappingSettings = Field(default_factory=MappingSettings)
    assertion_lifetime: Annotated[int, Field(gt=0, le=86400)] = Field(
        300, description="Seconds until NotOnOrAfter."
    )
    web: WebSettings | None = Field(
        None, description="The web IdP (fedharness idp serve): SP trust, login pages, logout."
    )
    service_providers: dict[str, ServiceProviderSettings] = Field(
        default_factory=lambda: {"aws": ServiceProviderSettings()},
        description="Relying parties by name; 'aws' is AWS sign-in.",
    )


class IdpFile(_Strict):
    """An IdP configuration file (a scenario file is one too).

    A key that is neither the IdP's nor one of a scenario's own sections is refused, as the
    scenario loader refuses it: a misspelt ``directroy:`` must not leave the directory empty.
    The scenario sections are only named here (in the scenario's order, so both loaders word
    their errors alike); ``scenarios.loader`` validates them.
    """

    name: object = None
    description: object = None
    idp: IdpSettings
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    aws: object = None
    sts: object = None
    expect: object = None
