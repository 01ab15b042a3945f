"""The ``saml:*`` trust-policy context keys STS derives from eduPerson/eduOrg, AD and X.500
attributes (IAM User Guide, "Mapping SAML attributes to AWS trust policy context keys" and
"Available keys for SAML-based AWS STS federation"), read off real signed assertions by the strict
STS, and a trust policy that denies on ``saml:organizationStatus``."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute
from idp.yamlfile import load_yaml
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.context import ATTRIBUTE_KEYS, saml_context
from sp_fixtures.aws.errors import NOT_AUTHORIZED, StsError
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory
from sp_fixtures.aws.policy import Outcome
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts, Verdict
from tests.sp_fixtures.aws.sts_cases import (
    A1,
    CORP,
    WORLD,
    Attributes,
    Forge,
    chain,
    put,
)

EDU = "urn:oid:1.3.6.1.4.1.5923"
CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"
ORG_STATUS = f"{A1}:role/OrgStatus"
ORG_STATUS_OID = "urn:oid:0.9.2342.19200300.100.1.45"

# Written out from the UG's three tables, not derived from ATTRIBUTE_KEYS: attribute name,
# context key, multivalued. Multivalued per the condition-keys page's [] marks (every AD and X.500
# key, and saml:cn). X.500 OIDs appear as urn:oid:<oid> and as the bare OID the UG prints, except
# urn:oid:2.5.4.3, which the eduPerson table maps to saml:cn.
MAPPINGS = [
    pytest.param(f"{EDU}.1.1.1.1", "saml:edupersonaffiliation", True, id="edu-affiliation"),
    pytest.param(f"{EDU}.1.1.1.2", "saml:edupersonnickname", True, id="edu-nickname"),
    pytest.param(f"{EDU}.1.1.1.3", "saml:edupersonorgdn", False, id="edu-orgdn"),
    pytest.param(f"{EDU}.1.1.1.4", "saml:edupersonorgunitdn", True, id="edu-orgunitdn"),
    pytest.param(
        f"{EDU}.1.1.1.5", "saml:edupersonprimaryaffiliation", False, id="edu-primaryaffiliation"
    ),
    pytest.param(f"{EDU}.1.1.1.6", "saml:edupersonprincipalname", False, id="edu-principalname"),
    pytest.param(f"{EDU}.1.1.1.7", "saml:edupersonentitlement", True, id="edu-entitlement"),
    pytest.param(
        f"{EDU}.1.1.1.8", "saml:edupersonprimaryorgunitdn", False, id="edu-primaryorgunitdn"
    ),
    pytest.param(
        f"{EDU}.1.1.1.9", "saml:edupersonscopedaffiliation", True, id="edu-scopedaffiliation"
    ),
    pytest.param(f"{EDU}.1.1.1.10", "saml:edupersontargetedid", True, id="edu-targetedid"),
    pytest.param(f"{EDU}.1.1.1.11", "saml:edupersonassurance", True, id="edu-assurance"),
    pytest.param(f"{EDU}.1.2.1.2", "saml:eduorghomepageuri", True, id="eduorg-homepageuri"),
    pytest.param(
        f"{EDU}.1.2.1.3",
        "saml:eduorgidentityauthnpolicyuri",
        True,
        id="eduorg-identityauthnpolicyuri",
    ),
    pytest.param(f"{EDU}.1.2.1.4", "saml:eduorglegalname", True, id="eduorg-legalname"),
    pytest.param(f"{EDU}.1.2.1.5", "saml:eduorgsuperioruri", True, id="eduorg-superioruri"),
    pytest.param(f"{EDU}.1.2.1.6", "saml:eduorgwhitepagesuri", True, id="eduorg-whitepagesuri"),
    pytest.param("urn:oid:2.5.4.3", "saml:cn", True, id="edu-cn"),
    pytest.param(f"{CLAIMS}/name", "saml:name", True, id="ad-name"),
    pytest.param(
        "http://schemas.xmlsoap.org/claims/CommonName", "saml:commonName", True, id="ad-commonname"
    ),
    pytest.param(f"{CLAIMS}/givenname", "saml:givenName", True, id="ad-givenname"),
    pytest.param(f"{CLAIMS}/surname", "saml:surname", True, id="ad-surname"),
    pytest.param(f"{CLAIMS}/emailaddress", "saml:mail", True, id="ad-emailaddress"),
    pytest.param(
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid",
        "saml:uid",
        True,
        id="ad-primarygroupsid",
    ),
    pytest.param("2.5.4.3", "saml:commonName", True, id="x500-bare-commonname"),
    pytest.param("urn:oid:2.5.4.4", "saml:surname", True, id="x500-surname"),
    pytest.param("2.5.4.4", "saml:surname", True, id="x500-bare-surname"),
    pytest.param("urn:oid:2.5.4.42", "saml:givenName", True, id="x500-givenname"),
    pytest.param("2.5.4.42", "saml:givenName", True, id="x500-bare-givenname"),
    pytest.param("urn:oid:2.5.4.45", "saml:x500UniqueIdentifier", True, id="x500-uniqueid"),
    pytest.param("2.5.4.45", "saml:x500UniqueIdentifier", True, id="x500-bare-uniqueid"),
    pytest.param("urn:oid:0.9.2342.19200300.100.1.1", "saml:uid", True, id="x500-uid"),
    pytest.param("0.9.2342.19200300.100.1.1", "saml:uid", True, id="x500-bare-uid"),
    pytest.param("urn:oid:0.9.2342.19200300.100.1.3", "saml:mail", True, id="x500-mail"),
    pytest.param("0.9.2342.19200300.100.1.3", "saml:mail", True, id="x500-bare-mail"),
    pytest.param(ORG_STATUS_OID, "saml:organizationStatus", True, id="x500-organizationstatus"),
    pytest.param(
        "0.9.2342.19200300.100.1.45",
        "saml:organizationStatus",
        True,
        id="x500-bare-organizationstatus",
    ),
]

_ORG_STATUS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": CORP},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        },
        {
            "Effect": "Deny",
            "Principal": {"Federated": CORP},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"saml:organizationStatus": "suspended"}},
        },
    ],
}


class Harness:
    def __init__(
        self, provider: IdentityProvider, sts: StrictSts, stranger: tuple[Path, Path]
    ) -> None:
        self.provider = provider
        self.sts = sts
        self.stranger = stranger

    def forge(self) -> Forge:
        return Forge(self.provider, dt.datetime.now(dt.UTC), self.stranger)

    def judge(self, params: dict[str, Any]) -> Verdict:
        return self.sts.judge(AssumeRoleWithSamlRequest.from_params(params))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The sts-rules world plus a role whose trust policy denies suspended users."""
    stranger = write_pair(
        generate_self_signed("not in any metadata"), tmp_path_factory.mktemp("stranger"), "stranger"
    )
    document = copy.deepcopy(load_yaml(WORLD).data)
    document["aws"]["accounts"]["111111111111"]["roles"]["OrgStatus"] = {
        "trust_policy": _ORG_STATUS_TRUST
    }
    provider = IdentityProvider.from_file(WORLD)
    world = AwsWorld.model_validate(document["aws"])
    with mock_aws():
        provisioned = provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name="context-keys",
        )
        yield Harness(provider, StrictSts(MotoIam(provisioned.extras)), stranger)


def _trust_context(verdict: Verdict) -> dict[str, Any]:
    assert verdict.exchange.trust_decisions, verdict.error
    return dict(verdict.exchange.trust_decisions[0].request.context)


def test_mappings_cover_every_mapped_attribute() -> None:
    listed = {p.values[0]: (p.values[1], p.values[2]) for p in MAPPINGS}
    assert len(listed) == len(MAPPINGS)
    assert listed == dict(ATTRIBUTE_KEYS)


@pytest.mark.parametrize(("name", "key", "multivalued"), MAPPINGS)
def test_assertion_attribute_sets_context_key(
    harness: Harness, name: str, key: str, multivalued: bool
) -> None:
    f = harness.forge()
    verdict = harness.judge(f.request(f.issue(attributes=put(name, "first-value", "second-value"))))
    assert verdict.error is None, verdict.error
    context = _trust_context(verdict)
    assert context[key] == (["first-value", "second-value"] if multivalued else "first-value")
    others = {k for k in context if k.startswith("saml:")} - {
        "saml:aud",
        "saml:iss",
        "saml:sub",
        "saml:sub_type",
        "saml:doc",
        "saml:namequalifier",
    }
    assert others == {key}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(f"{CLAIMS}/emailaddress", "urn:oid:0.9.2342.19200300.100.1.3", id="ad-first"),
        pytest.param(
            "urn:oid:0.9.2342.19200300.100.1.3", f"{CLAIMS}/emailaddress", id="x500-first"
        ),
        pytest.param(
            "urn:oid:0.9.2342.19200300.100.1.3", "0.9.2342.19200300.100.1.3", id="urn-before-bare"
        ),
    ],
)
def test_first_claim_for_a_key_wins(harness: Harness, first: str, second: str) -> None:
    def both(attrs: Attributes) -> Attributes:
        return (*attrs, SamlAttribute(first, ("from-first",)), SamlAttribute(second, ("from-2nd",)))

    f = harness.forge()
    verdict = harness.judge(f.request(f.issue(attributes=both)))
    assert verdict.error is None, verdict.error
    assert _trust_context(verdict)["saml:mail"] == ["from-first"]


def _context(*attributes: tuple[str, tuple[str, ...]]) -> dict[str, str | list[str]]:
    return saml_context(
        recipient="https://signin.aws.amazon.com/saml",
        issuer="https://idp.corp.example/saml",
        name_id="alice",
        name_id_format=None,
        account_id="111111111111",
        provider_name="CorpIdP",
        provider_arn=CORP,
        attributes=list(attributes),
        principal_tags={},
        transitive_tag_keys=(),
        source_identity=None,
    )


def test_attribute_without_values_does_not_claim_the_key() -> None:
    context = _context((f"{CLAIMS}/emailaddress", ()), (ORG_STATUS_OID, ()), ("2.5.4.4", ("x",)))
    assert "saml:mail" not in context
    assert "saml:organizationStatus" not in context
    context = _context((f"{CLAIMS}/emailaddress", ()), ("0.9.2342.19200300.100.1.3", ("b@x",)))
    assert context["saml:mail"] == ["b@x"]


def test_single_valued_key_takes_the_first_value_and_repeats_are_ignored() -> None:
    principal = f"{EDU}.1.1.1.6"
    context = _context((principal, ("a@corp", "b@corp")), (principal, ("c@corp",)))
    assert context["saml:edupersonprincipalname"] == "a@corp"


def test_attribute_names_are_case_sensitive() -> None:
    context = _context((f"{CLAIMS}/EmailAddress", ("a@x",)), ("URN:OID:2.5.4.4", ("s",)))
    assert "saml:mail" not in context
    assert "saml:surname" not in context


@pytest.mark.parametrize(
    ("name", "values", "denied"),
    [
        pytest.param(ORG_STATUS_OID, ("suspended",), True, id="suspended-denied"),
        pytest.param(ORG_STATUS_OID, ("active",), False, id="active-allowed"),
        pytest.param(ORG_STATUS_OID, ("active", "suspended"), True, id="any-value-suspended"),
        pytest.param("0.9.2342.19200300.100.1.45", ("suspended",), True, id="bare-oid-suspended"),
        pytest.param(f"{CLAIMS}/surname", ("suspended",), False, id="other-key-suspended"),
    ],
)
def test_trust_policy_denies_suspended_organization_status(
    harness: Harness, name: str, values: tuple[str, ...], denied: bool
) -> None:
    f = harness.forge()
    assertion = f.issue(
        role=ORG_STATUS,
        attributes=chain(put(AwsAttribute.ROLE, f"{ORG_STATUS},{CORP}"), put(name, *values)),
    )
    params = f.request(assertion, role=ORG_STATUS)
    verdict = harness.judge(params)
    decisions = verdict.exchange.trust_decisions
    if denied:
        assert verdict.failed_rule == "role.trust_policy"
        assert verdict.error is not None
        assert verdict.error.code == "AccessDenied"
        assert NOT_AUTHORIZED in verdict.error.message
        assert decisions[-1].outcome is Outcome.EXPLICIT_DENY
        with pytest.raises(StsError) as raised:
            harness.sts.assume_role_with_saml(**params)
        assert raised.value.code == "AccessDenied"
    else:
        assert verdict.error is None, verdict.error
        assert decisions[-1].outcome is Outcome.ALLOW
        answer = harness.sts.assume_role_with_saml(**params)
        assumed = answer["AssumedRoleUser"]
        assert isinstance(assumed, dict)
        assert (
            assumed["Arn"] == "arn:aws:sts::111111111111:assumed-role/OrgStatus/alice@corp.example"
        )
