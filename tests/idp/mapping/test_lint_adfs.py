"""ADFS lint: reference §7 mistakes #3 (case-insensitive condition, case-sensitive RegExReplace)
and #5 (unanchored replace-all), read from the claim rules and shown by ``fedharness run``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.directory import Directory
from idp.mapping.adfs import AdfsMapping, AdfsMappingConfig
from idp.mapping.lint import LintWarning, lint
from scenarios.cli import main
from tests.conftest import CERTS, EXAMPLES

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
TEMP = "http://temp/variable"
GROUPS = (
    '@RuleName = "Get AD Groups"\n'
    'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", '
    'Issuer == "AD AUTHORITY"] => add(store = "Active Directory", '
    'types = ("http://temp/variable"), query = ";tokenGroups;{0}", param = c.Value);\n'
)
SINGLE = "arn:aws:iam::123456789012:saml-provider/ADFS,arn:aws:iam::123456789012:role/ADFS-"
MULTI = "arn:aws:iam::$1:saml-provider/ADFS,arn:aws:iam::$1:role/"


def roles_rule(condition: str, replace: str, replacement: str = SINGLE) -> str:
    """The AWS blog's Rule 4 shape with the given condition and RegExReplace pattern."""
    return (
        '@RuleName = "Roles"\n'
        f'c:[Type == "{TEMP}", Value =~ "{condition}"] => issue(Type = "{ROLE}", '
        f'Value = RegExReplace(c.Value, "{replace}", "{replacement}"));\n'
    )


def adfs_lint(rules: str, *, with_engine: bool = False) -> list[LintWarning]:
    config = AdfsMappingConfig(rules=rules)
    directory = Directory()
    engine = AdfsMapping(config, directory=directory) if with_engine else None
    return lint(config, "adfs", directory, engine=engine)


def rule_codes(warnings: list[LintWarning]) -> list[str]:
    return [w.code for w in warnings if w.where.startswith("adfs: rule")]


MISTAKES = ["case-mismatch", "unanchored-replace"]


@pytest.mark.parametrize("with_engine", [False, True], ids=["config-only", "with-engine"])
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(roles_rule("(?i)^AWS-", "AWS-"), MISTAKES, id="aws-blog-rule-4"),
        pytest.param(
            roles_rule("(?i)^AWS-([\\d]{12})", "AWS-([\\d]{12})-", MULTI),
            MISTAKES,
            id="multi-account-a",
        ),
        pytest.param(
            roles_rule("(?i)^AWS-([^d]{12})-", "AWS-([^d]{12})-", MULTI), MISTAKES, id="ams-b"
        ),
        pytest.param(roles_rule("(?i)^AWS-", "(?i)^AWS-"), [], id="case-fixed-variant-d"),
        pytest.param(roles_rule("^AWS-", "^AWS-"), [], id="case-sensitive-anchored"),
        pytest.param(
            roles_rule("(?i)^AWS-([\\d]{12})", "(?i)^AWS-([\\d]{12})-", MULTI),
            [],
            id="multi-account-corrected",
        ),
        pytest.param(roles_rule("^AWS-", "AWS-"), ["unanchored-replace"], id="replace-only"),
    ],
)
def test_rule_warnings(rule: str, expected: list[str], with_engine: bool) -> None:
    warnings = adfs_lint(GROUPS + rule, with_engine=with_engine)
    assert rule_codes(warnings) == expected
    assert {w.where for w in warnings if w.where.startswith("adfs: rule")} <= {
        "adfs: rule 'Roles' at idp.mapping.adfs.rules:4"
    }


def test_the_message_quotes_both_patterns_as_the_rule_does() -> None:
    rule = roles_rule("(?i)^AWS-([\\d]{12})", "AWS-([\\d]{12})-", MULTI)
    (mismatch,) = [w for w in adfs_lint(rule) if w.code == "case-mismatch"]
    assert mismatch.message.startswith('"(?i)^AWS-([\\d]{12})" vs "AWS-([\\d]{12})-": ')
    assert mismatch.where == "adfs: rule 'Roles' at idp.mapping.adfs.rules:2"


def test_an_unnamed_rule_is_named_by_its_position() -> None:
    rule = roles_rule("(?i)^AWS-", "AWS-").removeprefix('@RuleName = "Roles"\n')
    warnings = adfs_lint(GROUPS + rule)
    assert {w.where for w in warnings} == {"adfs: rule 2 at idp.mapping.adfs.rules:3"}


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(
            f'c:[Type == "{TEMP}", Value == "AWS-Admin"] => issue(Type = "{ROLE}", '
            f'Value = RegExReplace(c.Value, "AWS-", "{SINGLE}"));',
            id="no-regex-condition",
        ),
        pytest.param(
            f'c:[Type == "{TEMP}", Value =~ "(?i)^AWS-"] => issue(Type = "{ROLE}", '
            f'Value = "{SINGLE}Admin");',
            id="no-regex-replace",
        ),
        pytest.param(
            f'c1:[Type == "{TEMP}", Value =~ "(?i)^AWS-"] && c2:[Type == "{TEMP}"] => issue('
            f'Type = "{ROLE}", Value = RegExReplace(c2.Value, "AWS-", "{SINGLE}"));',
            id="replace-of-another-claim",
        ),
    ],
)
def test_rules_without_a_condition_and_replace_pair_give_nothing(rule: str) -> None:
    assert rule_codes(adfs_lint(rule)) == []


def test_a_replace_inside_a_concatenation_is_checked() -> None:
    rule = (
        f'c:[Type == "{TEMP}", Value =~ "(?i)^AWS-"] => issue(Type = "{ROLE}", '
        f'Value = "arn:aws:iam::123456789012:saml-provider/ADFS," + '
        'RegExReplace(c.Value, "AWS-", "arn:aws:iam::123456789012:role/ADFS-"));'
    )
    assert rule_codes(adfs_lint(rule)) == MISTAKES


def test_a_rules_file_is_checked_through_the_engine() -> None:
    config = AdfsMappingConfig(rules_file=Path("adfs/aws-blog.rules"))
    directory = Directory()
    engine = AdfsMapping(config, base_dir=EXAMPLES, directory=directory)
    warnings = lint(config, "adfs", directory, engine=engine)
    assert [(w.code, w.where) for w in warnings] == [
        ("case-mismatch", "adfs: rule 'Roles' at aws-blog.rules:13"),
        ("unanchored-replace", "adfs: rule 'Roles' at aws-blog.rules:13"),
    ]
    # Without the engine, lint reads nothing from disk: a rules file is not checked.
    assert lint(config, "adfs", directory) == []


def run(path: Path) -> str:
    result = CliRunner().invoke(main, ["run", str(path)], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_run_reports_the_aws_blog_examples_mistakes() -> None:
    """The bundled example pastes the blog's Rule 4 verbatim, mistakes included."""
    out = run(EXAMPLES / "adfs-aws-blog.yaml")
    lines = [line.strip() for line in out.splitlines() if "⚠ lint" in line]
    assert lines == [
        '⚠ lint case-mismatch: "(?i)^AWS-" vs "AWS-": the condition ignores case but the '
        "RegExReplace pattern does not: a group such as aws-Dev passes and is sent "
        "untransformed, and AWS rejects the whole response "
        "(adfs: rule 'Roles' at aws-blog.rules:13)",
        '⚠ lint unanchored-replace: replace pattern "AWS-": RegExReplace replaces every '
        "match: a group with the prefix twice (AWS-Dev-AWS-Admin) gives a garbage ARN "
        "(adfs: rule 'Roles' at aws-blog.rules:13)",
        "⚠ lint malformed-role-value: Role value 'aws-Dev' has 1 comma-separated field(s): "
        "not one role ARN and one saml-provider ARN: AWS rejects the whole response as an "
        "invalid SAML response (adfs: user kim)",
    ]


def test_run_reports_nothing_for_the_corrected_rules(tmp_path: Path) -> None:
    rules = tmp_path / "fixed.rules"
    rules.write_text(GROUPS + roles_rule("(?i)^AWS-", "(?i)^AWS-"), encoding="utf-8")
    scenario = tmp_path / "fixed.yaml"
    scenario.write_text(
        f"""\
name: adfs-case-fixed
idp:
  entity_id: http://adfs.corp.example/adfs/services/trust
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  attributes: {{role_session_name: "{{email}}"}}
  mapping:
    adfs: {{rules_file: fixed.rules}}
directory:
  users:
    ines: {{email: ines@corp.example, groups: [AWS-Production]}}
    kim: {{email: kim@corp.example, groups: [aws-Dev]}}
aws:
  accounts:
    "123456789012":
      saml_providers: {{ADFS: {{metadata: from-idp}}}}
      roles:
        ADFS-Production: {{trusts: ADFS}}
        ADFS-Dev: {{trusts: ADFS}}
expect:
  ines: {{roles: [arn:aws:iam::123456789012:role/ADFS-Production]}}
  kim: {{roles: [arn:aws:iam::123456789012:role/ADFS-Dev]}}
""",
        encoding="utf-8",
    )
    out = run(scenario)
    assert "2 passed, 0 failed" in out
    assert "lint" not in out
