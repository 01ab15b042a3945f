"""`fedharness explain`: groups with their nesting path, mapping trace, attributes, the strict STS
verdict with the trust-policy evaluation, and the user's expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.directory import Directory, Group, User
from scenarios.explain import group_paths
from sp_fixtures.aws.rules import RULES
from tests.conftest import DATA, EXAMPLES
from tests.scenarios.scenario_cli import invoke

SINGLE = EXAMPLES / "single-account.yaml"
ADFS_BLOG = EXAMPLES / "adfs-aws-blog.yaml"
ADFS_ACCOUNT = "arn:aws:iam::123456789012"
ROLE_FORM = "expected arn:aws:iam::ACCOUNT:role/NAME"
REFUSED = DATA / "scenarios" / "refused-roles.yaml"
ACCOUNT = "arn:aws:iam::111111111111"


def explain(*args: str | Path) -> tuple[int, str, str]:
    return invoke("explain", *args)


@pytest.fixture(scope="module")
def alice() -> tuple[int, str]:
    code, out, _ = explain(SINGLE, "--user", "alice")
    return code, out


def test_groups_show_direct_and_inherited_paths(alice: tuple[int, str]) -> None:
    lines = [line.strip() for line in alice[1].splitlines()]
    assert "direct     alice → platform-team" in lines
    assert "inherited  alice → platform-team → aws-prod-admins" in lines
    assert "inherited  alice → platform-team → engineering → aws-prod-readers" in lines


def test_mapping_trace_shows_rule_match_and_values(alice: tuple[int, str]) -> None:
    out = alice[1]
    assert "1. explicit: groups['aws-prod-admins']  matched group aws-prod-admins" in out
    assert f"→ {ACCOUNT}:role/Admin,{ACCOUNT}:saml-provider/CorpIdP" in out
    assert "2. explicit: groups['aws-prod-readers']  matched group aws-prod-readers" in out


def test_assertion_attributes_are_listed(alice: tuple[int, str]) -> None:
    lines = [line.strip() for line in alice[1].splitlines()]
    role_at = lines.index("Role")
    assert lines[role_at + 1] == f"{ACCOUNT}:role/Admin,{ACCOUNT}:saml-provider/CorpIdP"
    assert lines[lines.index("RoleSessionName") + 1] == "alice@corp.example"


def test_allowed_role_shows_rules_and_trust_decision(alice: tuple[int, str]) -> None:
    out = alice[1]
    assert (
        f"{ACCOUNT}:role/Admin via {ACCOUNT}:saml-provider/CorpIdP  "
        "allowed: credentials would be issued"
    ) in out
    assert f"rules passed ({len(RULES)}): request.assertion_length," in out
    assert (
        f"trust policy: allowed: statement 0 allows sts:AssumeRoleWithSAML on "
        f"{ACCOUNT}:role/Admin for Federated {ACCOUNT}:saml-provider/CorpIdP"
    ) in out
    assert (
        "✓ StringEquals SAML:aud: policy https://signin.aws.amazon.com/saml; "
        "request https://signin.aws.amazon.com/saml; held"
    ) in out


def test_expectation_verdict_holds(alice: tuple[int, str]) -> None:
    code, out = alice
    assert code == 0
    assert f"✓ roles: gets exactly {ACCOUNT}:role/Admin, {ACCOUNT}:role/ReadOnly" in out
    assert out.rstrip().endswith("expectation holds")


def test_role_refused_by_the_trusted_provider() -> None:
    code, out, _ = explain(REFUSED, "--user", "bob")
    assert code == 0  # bob is expected to get AccessDenied
    assert f"{ACCOUNT}:role/Partner via {ACCOUNT}:saml-provider/CorpIdP  refused" in out
    assert (
        "refused by rule role.trust_policy: AccessDenied: Not authorized to perform "
        "sts:AssumeRoleWithSAML"
    ) in out
    assert (
        f"trust policy: denied: no statement allows sts:AssumeRoleWithSAML on "
        f"{ACCOUNT}:role/Partner for Federated {ACCOUNT}:saml-provider/CorpIdP; statement 0: "
        f"Principal ['Federated {ACCOUNT}:saml-provider/PartnerIdP'] did not match"
    ) in out
    assert "statement 0, Allow:  principal ✗  action ✓  resource ✓" in out
    assert f"rules passed ({len(RULES) - 1})" in out
    assert "expectation holds" in out


def test_role_refused_by_a_condition_fails_the_expectation() -> None:
    code, out, _ = explain(REFUSED, "--user", "dave")
    assert code == 1
    assert (
        "✗ StringEquals SAML:aud: policy https://eu-west-1.signin.aws.amazon.com/saml; "
        "request https://signin.aws.amazon.com/saml; not held"
    ) in out
    assert "conditions ✗" in out
    assert f"✗ roles: missing role {ACCOUNT}:role/Auditor (refused: AccessDenied" in out
    assert out.rstrip().endswith("expectation fails")


def test_role_option_limits_the_roles_shown() -> None:
    code, out, _ = explain(SINGLE, "--user", "alice", "--role", f"{ACCOUNT}:role/ReadOnly")
    assert code == 0
    assert f"{ACCOUNT}:role/ReadOnly via" in out
    assert f"{ACCOUNT}:role/Admin via" not in out


def test_role_not_offered_is_judged_and_said() -> None:
    code, out, _ = explain(REFUSED, "--user", "alice", "--role", f"{ACCOUNT}:role/Partner")
    assert code == 0
    assert "not offered by the IdP's assertion" in out
    assert "refused by rule saml.role_pair: AccessDenied" in out
    assert "trust policy: not evaluated (refused by an earlier rule)" in out
    assert "declares no such role" not in out  # Partner is declared


@pytest.mark.parametrize(
    ("scenario", "role", "message"),
    [
        (
            ADFS_BLOG,
            "Dev",
            f"--role 'Dev' is not an IAM role ARN; {ROLE_FORM} "
            f"(did you mean '{ADFS_ACCOUNT}:role/ADFS-Dev'?)",
        ),
        (
            SINGLE,
            "role/ReadOnly",
            f"--role 'role/ReadOnly' is not an IAM role ARN; {ROLE_FORM} "
            f"(did you mean '{ACCOUNT}:role/ReadOnly'?)",
        ),
        (SINGLE, "Dev", f"--role 'Dev' is not an IAM role ARN; {ROLE_FORM}"),
        (
            SINGLE,
            "arn:aws:iam::11111111111:role/Admin",
            "--role 'arn:aws:iam::11111111111:role/Admin' is not an IAM role ARN: the account id "
            f"is '11111111111', not 12 digits; {ROLE_FORM} (did you mean '{ACCOUNT}:role/Admin'?)",
        ),
    ],
    ids=["bare-name", "role-slash-name", "no-close-role", "short-account"],
)
def test_a_role_that_is_not_an_arn_is_a_usage_error(
    scenario: Path, role: str, message: str
) -> None:
    user = "jon" if scenario == ADFS_BLOG else "alice"
    code, out, err = explain(scenario, "--user", user, "--role", role)
    assert code == 2
    assert out == ""
    assert err == f"error: {message}\n"


def test_an_undeclared_role_arn_is_explained_and_said() -> None:
    code, out, _ = explain(ADFS_BLOG, "--user", "jon", "--role", f"{ADFS_ACCOUNT}:role/ADFS-Devv")
    assert code == 0  # jon's expectation still holds
    lines = [line.strip() for line in out.splitlines()]
    at = lines.index(
        f"{ADFS_ACCOUNT}:role/ADFS-Devv via {ADFS_ACCOUNT}:saml-provider/ADFS  refused"
    )
    assert lines[at + 1].startswith(
        "the scenario declares no such role under aws.accounts "
        f"(did you mean '{ADFS_ACCOUNT}:role/ADFS-Dev'"
    )
    assert lines[at + 2] == "not offered by the IdP's assertion"


def test_user_in_no_group_without_expectation() -> None:
    code, out, _ = explain(REFUSED, "--user", "erin")
    assert code == 0
    assert "erin is in no group" in out
    assert "matched no group of the user is in the table" in out
    assert "the assertion offers no role" in out
    assert "no expectation covers erin, who assumes no role" in out
    assert out.rstrip().endswith("expectation holds")


def test_unknown_user_is_one_line_with_close_matches() -> None:
    code, out, err = explain(SINGLE, "--user", "alcie")
    assert code == 2
    assert out == ""
    assert err.strip() == (f"error: {SINGLE}: unknown user 'alcie'; did you mean 'alice'?")


def test_only_moto_is_offered() -> None:
    code, _, err = explain(SINGLE, "--user", "alice", "--aws", "live")
    assert code == 2
    assert "Invalid value for '--aws': 'live' is not 'moto'" in err


# --- group paths --------------------------------------------------------------------------------


def test_group_paths_take_the_shortest_route_and_survive_loops() -> None:
    directory = Directory(
        users=[User("u", direct_groups=("a", "b"))],
        groups=[
            Group("a", member_of=("x",)),
            Group("b", member_of=("c",)),
            Group("c", member_of=("x", "b")),
        ],
    )
    paths = {path.group: path.arrow() for path in group_paths(directory, "u")}
    assert paths == {"a": "u → a", "b": "u → b", "x": "u → a → x", "c": "u → b → c"}
    assert [path.group for path in group_paths(directory, "u")] == list(directory.groups_of("u"))


def test_uncovered_user_who_assumes_a_role_fails_as_in_run() -> None:
    uncovered = DATA / "scenarios" / "semantics" / "uncovered.yaml"
    code, out, _ = explain(uncovered, "--user", "carol")
    assert code == 1
    assert "no expectation covers carol" in out
    assert "who assumes arn:aws:iam::111111111111:role/Admin" in out
    assert out.rstrip().endswith("expectation fails")


def test_role_suggestions_compare_role_names_not_the_shared_arn_prefix() -> None:
    from scenarios.loader import suggest_role

    declared = {
        "arn:aws:iam::111111111111:role/Admin",
        "arn:aws:iam::111111111111:role/ReadOnly",
        "arn:aws:iam::222222222222:role/Dev",
    }
    assert suggest_role("arn:aws:iam::111111111111:role/Devv", declared) == (
        " (did you mean 'arn:aws:iam::222222222222:role/Dev'?)"
    )
    # the account mistyped: the same name elsewhere
    assert suggest_role("arn:aws:iam::111111111112:role/Admin", declared) == (
        " (did you mean 'arn:aws:iam::111111111111:role/Admin'?)"
    )
    assert suggest_role("arn:aws:iam::111111111111:role/Zzzzz", declared) == ""
