"""The ADFS engine: the reference's rule sets and fixture matrix, and ADFS's evaluation rules."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree
from pydantic import ValidationError

from idp.config import IdpSettings
from idp.directory import Directory, Group, User
from idp.errors import MappingError
from idp.mapping.adfs import (
    AD_AUTHORITY,
    LOCAL_AUTHORITY,
    MAX_COMBINATIONS,
    NAME_ID_TRACE_RULE,
    AdfsInputClaims,
    AdfsMapping,
    AdfsMappingConfig,
    Claim,
    IssuedNameId,
    issued_name_id,
)
from idp.mapping.adfs_parser import ClaimRuleSyntaxError
from idp.mapping.adfs_store import GROUP, GROUP_SID, PRIMARY_SID, UPN, WINDOWS_ACCOUNT_NAME
from idp.mapping.base import MappingInput, MappingResult
from idp.provider import IdentityProvider
from idp.saml.constants import NSMAP, AwsAttribute
from tests.conftest import CERTS

DATA = Path(__file__).parent.parent.parent / "data" / "adfs"
BLOG = (DATA / "aws-blog.rules").read_text()
TEMP = "http://temp/variable"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
ARN = "arn:aws:iam::123456789012"


def subject(
    *groups: str,
    name: str = "alice",
    email: str | None = "alice@corp.example",
    upn: str | None = None,
    inherited: tuple[str, ...] = (),
    attributes: dict[str, tuple[str, ...]] | None = None,
) -> MappingInput:
    user = User(name, email=email, upn=upn, direct_groups=groups, attributes=attributes or {})
    return MappingInput(user=user, groups=groups + inherited, direct_groups=groups)


def engine(rules: str, **settings: Any) -> AdfsMapping:
    return AdfsMapping(AdfsMappingConfig(rules=rules, **settings))


def run(rules: str, who: MappingInput | None = None, **settings: Any) -> MappingResult:
    return engine(rules, **settings).map(who or subject())


def roles(result: MappingResult) -> tuple[str, ...]:
    return result.values(AwsAttribute.ROLE)


def blog_with(query: str) -> str:
    """The AWS blog rules with rule 3 reading groups another way (mistake #9)."""
    return BLOG.replace('";tokenGroups;{0}"', f'"{query}"')


# --- the reference's rule sets and fixture matrix ---------------------------------------------

MATRIX: list[dict[str, Any]] = yaml.safe_load((DATA / "matrix.yaml").read_text())


@pytest.mark.parametrize("row", MATRIX, ids=[row["id"] for row in MATRIX])
def test_fixture_matrix(row: dict[str, Any]) -> None:
    mapping = AdfsMapping(AdfsMappingConfig(rules_file=Path(row["rules"])), base_dir=DATA)
    assert roles(mapping.map(subject(row["group"]))) == tuple(row["roles"])


def test_aws_blog_rules_for_a_user_in_several_groups() -> None:
    result = run(BLOG, subject("AWS-Production", "Domain Users", "aws-Dev"))
    assert [a.name for a in result.attributes] == [
        AwsAttribute.ROLE_SESSION_NAME,
        AwsAttribute.ROLE,
    ]
    assert result.values(AwsAttribute.ROLE_SESSION_NAME) == ("alice@corp.example",)
    assert roles(result) == (f"{ARN}:saml-provider/ADFS,{ARN}:role/ADFS-Production", "aws-Dev")
    assert issued_name_id(result) == IssuedNameId("CORP\\alice", PERSISTENT)


def test_blog_attributes_look_like_adfs_output() -> None:
    (session, role) = run(BLOG, subject("AWS-Production")).attributes
    assert (role.name_format, role.value_type) == (None, None)
    assert session.name_format is None


def test_domain_users_only_gives_no_role_attribute() -> None:
    result = run(BLOG, subject("Domain Users"))
    assert [a.name for a in result.attributes] == [AwsAttribute.ROLE_SESSION_NAME]


def test_user_without_mail_gets_no_role_session_name() -> None:
    result = run(BLOG, subject("AWS-Production", email=None))
    assert result.values(AwsAttribute.ROLE_SESSION_NAME) == ()
    assert any(
        '"RoleSessionName"' in step.rule and "mail has no value for CORP\\alice" in step.matched
        for step in result.trace
    )


def test_sam_account_name_variant_of_rule_2() -> None:
    result = run(BLOG.replace('";mail;{0}"', '";sAMAccountName;{0}"'), subject())
    assert result.values(AwsAttribute.ROLE_SESSION_NAME) == ("alice",)


@pytest.mark.parametrize(
    ("query", "value"),
    [
        (";tokenGroups(domainQualifiedName);{0}", "CORP\\AWS-Production"),
        (";memberOf;{0}", "CN=AWS-Production,OU=Groups,DC=corp,DC=example"),
    ],
    ids=["domain-qualified", "memberOf-DN"],
)
def test_other_group_sources_never_match_the_roles_rule(query: str, value: str) -> None:
    result = run(blog_with(query), subject("AWS-Production"))
    assert roles(result) == ()
    assert any(
        f'{TEMP} "{value}": Value =~ "(?i)^AWS-" is false' == step.matched for step in result.trace
    )


def test_tokengroups_is_transitive_and_memberof_direct_only() -> None:
    who = subject("Platform", inherited=("AWS-Production",))
    assert roles(run(BLOG, who)) == (f"{ARN}:saml-provider/ADFS,{ARN}:role/ADFS-Production",)
    any_dn = blog_with(";memberOf;{0}").replace('"(?i)^AWS-"', '"^CN="')
    assert roles(run(any_dn, who)) == ("CN=Platform,OU=Groups,DC=corp,DC=example",)


def test_trace_explains_every_group() -> None:
    trace = run(
        BLOG, subject("AWS-Production", "aws-Dev", "AWS-Dev-AWS-Admin", "Domain Users")
    ).trace
    roles_steps = {
        step.matched.split(" → ")[0]: step for step in trace if step.rule == 'rule 4 "Roles"'
    }
    assert roles_steps[f'c = {TEMP} "AWS-Production"'].produced == (
        f"{ARN}:saml-provider/ADFS,{ARN}:role/ADFS-Production",
    )
    assert (
        'RegExReplace: "AWS-" does not match "aws-Dev", value unchanged'
        in roles_steps[f'c = {TEMP} "aws-Dev"'].matched
    )
    assert (
        'RegExReplace: "AWS-" replaced 2 matches'
        in roles_steps[f'c = {TEMP} "AWS-Dev-AWS-Admin"'].matched
    )
    assert f'{TEMP} "Domain Users": Value =~ "(?i)^AWS-" is false' in roles_steps
    groups_step = next(step for step in trace if step.rule == 'rule 3 "Get AD Groups"')
    assert groups_step.produced == (
        "AWS-Production",
        "aws-Dev",
        "AWS-Dev-AWS-Admin",
        "Domain Users",
    )
    assert " → add http://temp/variable" in groups_step.matched
    assert trace[0].matched == ("CORP\\alice: windowsaccountname, name, primarysid, 4 × groupsid")
    assert trace[-1].rule == NAME_ID_TRACE_RULE


def test_rule_that_matches_nothing_says_so() -> None:
    result = run('c:[Type == "http://nothing"] => issue(claim = c);')
    assert result.trace[1].matched == 'no claim matches c:[Type == "http://nothing"]'
    assert result.trace[1].rule == "rule 1 (line 1)"


def test_equality_misses_are_counted_regex_misses_listed() -> None:
    rules = (
        f'c:[Type == "{GROUP_SID}", Value == "S-1-0"] => issue(claim = c);\n'
        '=> add(Type = "http://t", Value = "a  b");\n'
        'c:[Type == "http://t", Value =~ "^x"] => issue(claim = c);'
    )
    trace = [step.matched for step in run(rules, subject("a", "b", "c")).trace]
    assert trace[1:3] == [
        f'3 claims of type {GROUP_SID}: Value == "S-1-0" is false',
        f'no claim matches c:[Type == "{GROUP_SID}", Value == "S-1-0"]',
    ]
    assert trace[4:6] == [
        'http://t "a  b": Value =~ "^x" is false',
        'no claim matches c:[Type == "http://t", Value =~ "^x"]',
    ]


def test_no_nameidentifier_claim() -> None:
    result = run('=> issue(Type = "https://aws.amazon.com/SAML/Attributes/Role", Value = "x");')
    assert issued_name_id(result) is None
    assert result.trace[-1].matched == "no nameidentifier claim was issued"


# --- the claims provider's input claims --------------------------------------------------------


def test_input_claims_follow_the_active_directory_claims_provider() -> None:
    sid = "S-1-5-21-1-2-3-1104"
    mapping = AdfsMapping(
        AdfsMappingConfig(rules="", domain="EXAMPLE"),
        directory=Directory(groups=[Group("Admins", sid=sid)]),
    )
    who = subject(
        "Admins",
        "Other",
        upn="alice@corp.example",
        attributes={"objectSid": ("S-1-5-21-1-2-3-500",)},
    )
    claims = mapping.input_claims(who)
    assert [(c.type, c.value) for c in claims][:4] == [
        (WINDOWS_ACCOUNT_NAME, "EXAMPLE\\alice"),
        ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "EXAMPLE\\alice"),
        (UPN, "alice@corp.example"),
        (PRIMARY_SID, "S-1-5-21-1-2-3-500"),
    ]
    sids = [c.value for c in claims if c.type == GROUP_SID]
    assert sids[0] == sid
    assert sids[1].startswith("S-1-5-21-1004336348-1177238915-682003330-")
    assert {(c.issuer, c.original_issuer) for c in claims} == {(AD_AUTHORITY, AD_AUTHORITY)}
    assert mapping.input_claims(who) == claims


def test_group_names_as_input_claims_only_when_asked() -> None:
    rules = f'c:[Type == "{GROUP}"] => issue(claim = c);'
    assert run(rules, subject("AWS-Dev")).attributes == ()
    result = run(rules, subject("AWS-Dev"), input_claims=AdfsInputClaims(group_names=True))
    assert result.values(GROUP) == ("AWS-Dev",)


def test_group_sid_rule_with_a_mid_pattern_inline_flag() -> None:
    rules = (
        f'c:[Type == "{GROUP_SID}", Value =~ "^(?i)S-1-5-21-1-2-3-1104$"] '
        '=> issue(Type = "http://schemas.xmlsoap.org/claims/Group", Value = "Admins");'
    )
    directory = Directory(groups=[Group("Domain Admins", sid="S-1-5-21-1-2-3-1104")])
    mapping = AdfsMapping(AdfsMappingConfig(rules=rules), directory=directory)
    assert mapping.map(subject("Domain Admins")).values(GROUP) == ("Admins",)
    assert mapping.map(subject("Other")).values(GROUP) == ()


# --- evaluation semantics ---------------------------------------------------------------------


def test_add_feeds_later_rules_but_is_not_output() -> None:
    result = run(
        '=> add(Type = "http://t", Value = "v");\n'
        'c:[Type == "http://t"] => issue(Type = "http://out", Value = c.Value + "!");'
    )
    assert [(a.name, a.values) for a in result.attributes] == [("http://out", ("v!",))]


def test_rules_only_see_claims_from_earlier_rules() -> None:
    result = run(
        'c:[Type == "http://t"] => issue(Type = "http://out", Value = "seen");\n'
        '=> add(Type = "http://t", Value = "v");'
    )
    assert result.attributes == ()


def test_a_rule_does_not_see_its_own_output() -> None:
    result = run(
        'c:[Type == "http://t"] => issue(Type = "http://t", Value = c.Value + "x");\n', subject()
    )
    assert result.attributes == ()
    result = run(
        '=> add(Type = "http://t", Value = "a");\n'
        'c:[Type == "http://t"] => issue(Type = "http://t", Value = c.Value + "x");'
    )
    assert result.values("http://t") == ("ax",)


def adds(*claims: str) -> str:
    """Rules adding claims written ``type=value`` (type without the ``http://``)."""
    return "".join(
        f'=> add(Type = "http://{c.split("=")[0]}", Value = "{c.split("=")[1]}");\n' for c in claims
    )


def test_selectors_fire_once_per_combination() -> None:
    result = run(
        adds("a=1", "a=2", "b=x", "b=y") + 'c1:[Type == "http://a"] && c2:[Type == "http://b"] '
        '=> issue(Type = "http://out", Value = c1.Value + c2.Value);'
    )
    assert result.values("http://out") == ("1x", "1y", "2x", "2y")


def test_join_on_a_bound_variable() -> None:
    result = run(
        adds("a=1", "a=2", "b=2")
        + 'c1:[Type == "http://a"] && c2:[Type == "http://b", Value == c1.Value] '
        '=> issue(Type = "http://out", Value = c1.Value);'
    )
    assert result.values("http://out") == ("2",)


def test_exists_fires_once_and_not_exists_when_absent() -> None:
    rules = (
        'EXISTS([Type == "{t}"]) => issue(Type = "http://exists", Value = "yes");\n'
        'NOT EXISTS([Type == "{t}"]) => issue(Type = "http://missing", Value = "yes");'
    )
    present = run(rules.format(t=GROUP_SID), subject("a", "b", "c"))
    assert [(a.name, a.values) for a in present.attributes] == [("http://exists", ("yes",))]
    absent = run(rules.format(t="http://none"), subject("a"))
    assert [(a.name, a.values) for a in absent.attributes] == [("http://missing", ("yes",))]
    assert 'EXISTS([Type == "http://none"]) is false (0 matching claims)' in [
        step.matched for step in absent.trace
    ]


@pytest.mark.parametrize(
    ("comparison", "fires"),
    [
        ("== 3", True),
        ("!= 3", False),
        ("> 2", True),
        (">= 4", False),
        ("< 4", True),
        ("<= 2", False),
    ],
)
def test_count(comparison: str, fires: bool) -> None:
    rules = f'COUNT([Type == "{GROUP_SID}"]) {comparison} => issue(Type = "http://n", Value = "y");'
    assert bool(run(rules, subject("a", "b", "c")).attributes) is fires


def test_output_is_deduplicated_in_first_seen_order() -> None:
    result = run(
        '=> issue(Type = "http://t", Value = "b");\n'
        '=> issue(Type = "http://t", Value = "a");\n'
        '=> issue(Type = "http://t", Value = "b");\n'
        '=> issue(Type = "http://u", Value = "b");'
    )
    assert [(a.name, a.values) for a in result.attributes] == [
        ("http://t", ("b", "a")),
        ("http://u", ("b",)),
    ]


def test_copy_keeps_the_claim_and_add_copy_has_no_effect() -> None:
    rules = (
        f'c:[Type == "{WINDOWS_ACCOUNT_NAME}"] => add(claim = c);\n'
        f'c:[Type == "{WINDOWS_ACCOUNT_NAME}"] => issue(claim = c);'
    )
    result = run(rules)
    assert result.values(WINDOWS_ACCOUNT_NAME) == ("CORP\\alice",)
    assert "add(claim = …) has no effect" in result.trace[1].matched


def test_new_claim_defaults_and_properties() -> None:
    mapping = engine(
        '=> add(Type = "http://t");\n'
        'c:[Type == "http://t", Issuer == "LOCAL AUTHORITY", '
        'ValueType == "http://www.w3.org/2001/XMLSchema#string", Value == ""] '
        '=> issue(Type = "http://out", Value = "[" + c.Properties["http://p"] + "]",'
        ' Properties["http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/'
        'attributename"] = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic");'
    )
    (attribute,) = mapping.map(subject()).attributes
    assert attribute.values == ("[]",)
    assert attribute.name_format == "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
    assert Claim("t", "v").property("missing") == ""
    assert Claim("t", "v").issuer == LOCAL_AUTHORITY


def test_not_equal_and_not_match_operators() -> None:
    rules = (
        f'c:[Type == "{GROUP_SID}", Value != "S-1-0"] && d:[Type == "{WINDOWS_ACCOUNT_NAME}",'
        ' Value !~ "(?i)^corp\\\\bob$"] => issue(Type = "http://ok", Value = d.Value);'
    )
    assert run(rules, subject("g")).values("http://ok") == ("CORP\\alice",)
    assert run(rules, subject("g", name="Bob")).values("http://ok") == ()


def test_too_many_combinations_are_refused() -> None:
    who = subject(*(f"g{i}" for i in range(400)))
    with pytest.raises(MappingError, match=str(MAX_COMBINATIONS)):
        run('a:[] && b:[] => issue(Type = "http://x", Value = "y");', who)


# --- the attribute store -----------------------------------------------------------------------

STORE = (
    f'c:[Type == "{WINDOWS_ACCOUNT_NAME}"] => issue(store = "Active Directory", '
    'types = ({types}), query = "{query}", param = c.Value{extra});'
)


def store(query: str, types: str = '"http://out"', extra: str = "") -> str:
    return STORE.format(types=types, query=query, extra=extra)


def test_multi_attribute_query_maps_types_positionally() -> None:
    who = subject(
        "Dev",
        upn="alice@corp.example",
        inherited=("Eng",),
        attributes={"departmentNumber": ("42", "43")},
    )
    result = run(
        store(
            ";mail, userPrincipalName,tokenGroups,departmentNumber,sAMAccountName;{0}",
            '"http://m", "http://u", "http://g", "http://d", "http://s"',
        ),
        who,
    )
    assert [(a.name, a.values) for a in result.attributes] == [
        ("http://m", ("alice@corp.example",)),
        ("http://u", ("alice@corp.example",)),
        ("http://g", ("Dev", "Eng")),
        ("http://d", ("42", "43")),
        ("http://s", ("alice",)),
    ]


def test_token_groups_forms() -> None:
    directory = Directory(groups=[Group("Dev", sid="S-1-5-21-9-9-9-1000")])
    mapping = AdfsMapping(
        AdfsMappingConfig(
            rules=store(
                ";tokenGroups(SID),tokenGroups(domainQualifiedName),tokenGroups(longDomainQualifiedName)"
                ";{0}",
                '"http://sid", "http://dq", "http://long"',
            ),
            dns_domain="corp.example.com",
        ),
        directory=directory,
    )
    result = mapping.map(subject("Dev"))
    assert result.values("http://sid") == ("S-1-5-21-9-9-9-1000",)
    assert result.values("http://dq") == ("CORP\\Dev",)
    assert result.values("http://long") == ("corp.example.com\\Dev",)


def test_memberof_uses_directory_dns_and_escapes_made_up_ones() -> None:
    directory = Directory(groups=[Group("Ops", dn="CN=Ops,OU=Teams,DC=corp,DC=example")])
    mapping = AdfsMapping(AdfsMappingConfig(rules=store(";memberOf;{0}")), directory=directory)
    result = mapping.map(subject("Ops", "AWS-Dev,Prod", " #x "))
    assert result.values("http://out") == (
        "CN=Ops,OU=Teams,DC=corp,DC=example",
        "CN=AWS-Dev\\,Prod,OU=Groups,DC=corp,DC=example",
        "CN=\\ #x\\ ,OU=Groups,DC=corp,DC=example",
    )


def test_ldap_filter_with_a_second_param() -> None:
    rules = store("sAMAccountName={0};mail;{1}", extra="").replace(
        "param = c.Value",
        "param = RegExReplace(c.Value, "
        '"(?<domain>[^\\\\]+)\\\\(?<user>.+)", "${user}"), '
        "param = c.Value",
    )
    assert run(rules).values("http://out") == ("alice@corp.example",)
    other = rules.replace("sAMAccountName={0}", "(mail=bob@corp.example)")
    result = run(other)
    assert result.attributes == ()
    assert "no user matches (mail=bob@corp.example)" in result.trace[1].matched


@pytest.mark.parametrize(
    ("param", "note"),
    [
        ('"OTHER\\alice"', "domain 'OTHER' is not 'CORP'"),
        ('"CORP\\bob"', "is not the signed-in user"),
        ('"alice"', "is not DOMAIN\\user"),
    ],
    ids=["other-domain", "other-user", "no-domain"],
)
def test_account_the_store_cannot_find(param: str, note: str) -> None:
    rules = (
        f'=> issue(store = "Active Directory", types = ("http://out"), '
        f'query = ";mail;{{0}}", param = {param});'
    )
    result = run(rules)
    assert result.attributes == ()
    assert note in result.trace[1].matched


def test_account_lookup_is_case_insensitive() -> None:
    rules = (
        '=> issue(store = "Active Directory", types = ("http://out"), '
        'query = ";mail;{0}", param = "corp\\ALICE");'
    )
    assert run(rules).values("http://out") == ("alice@corp.example",)


def test_query_format_braces() -> None:
    rules = (
        '=> issue(store = "Active Directory", types = ("http://out"), '
        'query = ";mail;{{{0}}}", param = "CORP\\alice");'
    )
    assert "domain '{CORP' is not 'CORP'" in run(rules).trace[1].matched


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (store(";mail,sn;{0}"), "POLICY0019"),
        (store(";mail;{1}"), "{1} has no param (1 given)"),
        (store(";mail;{0:X}"), "malformed format item"),
    ],
    ids=["fields-vs-types", "missing-param", "format-spec"],
)
def test_query_errors_are_refused_at_load(rules: str, message: str) -> None:
    with pytest.raises(ClaimRuleSyntaxError, match=re.escape(message)) as caught:
        engine(rules)
    assert (caught.value.line, caught.value.column) == (1, 107)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("mail;{0}", "has three parts"),
        (";mail,;{0}", "an attribute name is empty"),
        ("(&(a=b)(c=d));mail;{0}", "is not emulated"),
        (";tokenGroups(shortName);{0}", "qualified forms"),
        (";mail(x);{0}", "is not emulated"),
        (";ma.il;{0}", "not a valid name"),
    ],
    ids=[
        "two-parts",
        "empty-attribute",
        "complex-filter",
        "unknown-qualifier",
        "qualifier-on-plain-attribute",
        "bad-name",
    ],
)
def test_queries_the_emulation_cannot_answer_are_refused_at_load(query: str, message: str) -> None:
    with pytest.raises(ClaimRuleSyntaxError, match=message) as caught:
        engine(store(query))
    assert (caught.value.line, caught.value.column) == (1, 107)


# --- configuration and files -------------------------------------------------------------------


def test_rules_file_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "aws.rules").write_text(BLOG, encoding="utf-16")
    mapping = AdfsMapping(AdfsMappingConfig(rules_file=Path("rules/aws.rules")), base_dir=tmp_path)
    assert len(roles(mapping.map(subject("AWS-Dev")))) == 1


def test_rules_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.rules"
    path.write_text('\n=> issue(Type == "x");', encoding="utf-8-sig")
    with pytest.raises(ClaimRuleSyntaxError) as caught:
        AdfsMapping(AdfsMappingConfig(rules_file=Path("broken.rules")), base_dir=tmp_path)
    assert str(caught.value).startswith(f"{path}:2:15: expected '='")


def test_missing_or_undecodable_rules_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the ADFS claim rules"):
        AdfsMapping(AdfsMappingConfig(rules_file=Path("none.rules")), base_dir=tmp_path)
    (tmp_path / "bad.rules").write_bytes(b"\x80\x81")
    with pytest.raises(MappingError, match="not utf-8-sig text"):
        AdfsMapping(AdfsMappingConfig(rules_file=Path("bad.rules")), base_dir=tmp_path)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"rules": "", "rules_file": "x.rules"},
        {"rules": "", "unknown": 1},
        {"rules": "", "domain": "CORP\\X"},
        {"rules": "", "domain_sid": "S-1-5-32-544"},
    ],
    ids=["neither", "both", "extra-key", "bad-domain", "bad-domain-sid"],
)
def test_config_validation(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AdfsMappingConfig.model_validate(settings)


def test_bad_regex_in_rules_points_at_the_rule() -> None:
    with pytest.raises(ClaimRuleSyntaxError) as caught:
        engine('\n=> issue(Type = "t", Value = RegExReplace("a", "(?<a-b>x)", ""));')
    assert (caught.value.line, caught.value.column) == (2, 1)
    assert "balancing groups" in caught.value.reason


def test_dynamic_regex_errors_surface_when_the_rule_fires() -> None:
    mapping = engine(
        f'c:[Type == "{WINDOWS_ACCOUNT_NAME}"] '
        '=> issue(Type = "t", Value = RegExReplace("a", c.Value, ""));'
    )
    assert mapping.map(subject(name="alice")).values("t") == ("a",)
    with pytest.raises(
        MappingError, match=re.escape("regular expression 'CORP\\\\x(' at position 7: missing ')'")
    ):
        mapping.map(subject(name="x("))


# --- in a signed response ---------------------------------------------------------------------


def test_engine_drives_the_identity_provider(now: dt.datetime) -> None:
    settings = IdpSettings.model_validate(
        {
            "entity_id": "http://adfs.corp.example/adfs/services/trust",
            "signing": {
                "key": str(CERTS / "sample-idp.key"),
                "cert": str(CERTS / "sample-idp.crt"),
            },
            "attributes": {"role_session_name": None},
        }
    )
    directory = Directory(
        [User("alice", email="alice@corp.example", direct_groups=("AWS-Production", "aws-Dev"))]
    )
    mapping = AdfsMapping(
        AdfsMappingConfig(rules_file=Path("aws-blog.rules")), base_dir=DATA, directory=directory
    )
    provider = IdentityProvider(settings, directory, base_dir=DATA, engine=mapping)
    issued = provider.issue("alice", now=now)
    role = etree.fromstring(issued.xml).xpath(
        "//saml:Attribute[@Name='https://aws.amazon.com/SAML/Attributes/Role']", namespaces=NSMAP
    )
    assert isinstance(role, list) and len(role) == 1
    assert isinstance(role[0], etree._Element) and role[0].get("NameFormat") is None
    assert [value.text for value in role[0]] == [
        f"{ARN}:saml-provider/ADFS,{ARN}:role/ADFS-Production",
        "aws-Dev",
    ]
    assert issued_name_id(issued.mapping) == IssuedNameId("CORP\\alice", PERSISTENT)


def test_literal_replace_moves_on_after_an_empty_match_as_dotnet() -> None:
    # Regex.Replace("aaa", "a*?", "X") is "XaXaXaX" in .NET (Mono 6.8); re.sub gives "XXXXXXX".
    rules = (
        '=> add(Type = "http://in", Value = "aaa");\n'
        'c:[Type == "http://in"] => issue(Type = "http://out", '
        'Value = RegExReplace(c.Value, "a*?", "X"));'
    )
    assert run(rules).values("http://out") == ("XaXaXaX",)
