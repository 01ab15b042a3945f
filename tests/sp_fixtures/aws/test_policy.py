"""Table-driven tests for the IAM policy engine; the cases live in tests/data/policy/*.yaml.

Three shapes of case, told apart by their keys:
- ``condition`` + ``held``: one Allow statement carrying that Condition, decided for ``context``;
- ``policy``/``policies`` + ``request`` + ``expect``: a whole evaluation, optionally checking
  ``describe`` (exact text) and ``record`` (what matched, per statement);
- ``policy`` + ``error``/``error_prefix``: a document refused with MalformedPolicyDocument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sp_fixtures.aws.policy import (
    MAX_NESTING,
    MAX_POLICY_CHARS,
    MalformedPolicyDocument,
    Outcome,
    Policy,
    PolicyError,
    Principal,
    Request,
    evaluate,
    parse_policy,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "policy"


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(DATA.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases.extend((f"{path.stem}/{case['id']}", case) for case in document["cases"])
    return cases


CASES = _load_cases()


def _params(kind: str) -> list[Any]:
    return [pytest.param(case, id=case_id) for case_id, case in CASES if _kind(case) == kind]


def _kind(case: Mapping[str, Any]) -> str:
    if "condition" in case:
        return "condition"
    if "error" in case or "error_prefix" in case:
        return "malformed"
    return "decision"


def _policy(raw: str | Mapping[str, Any]) -> Policy:
    return parse_policy(raw)


def _request(raw: Mapping[str, Any]) -> Request:
    principal = None
    if "principal" in raw:
        kind, _, value = raw["principal"].partition(" ")
        principal = Principal(kind, value)
    return Request(
        action=raw["action"],
        resource=raw.get("resource", "*"),
        principal=principal,
        context=raw.get("context", {}),
    )


@pytest.mark.parametrize("case", _params("condition"))
def test_condition(case: dict[str, Any]) -> None:
    policy = _policy(
        {
            "Version": case.get("version", "2012-10-17"),
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": case["condition"],
            },
        }
    )
    decision = evaluate([policy], Request("svc:Act", context=case.get("context", {})))

    assert decision.allowed is case["held"], decision.describe()


@pytest.mark.parametrize("case", _params("decision"))
def test_decision(case: dict[str, Any]) -> None:
    raw_policies = case["policies"] if "policies" in case else [case["policy"]]
    decision = evaluate([_policy(raw) for raw in raw_policies], _request(case["request"]))

    assert decision.outcome is Outcome(case["expect"]), decision.describe()
    assert decision.allowed is (case["expect"] == "allowed")
    if "describe" in case:
        assert decision.describe() == case["describe"]
    if "record" in case:
        record = [
            {
                "principal": result.principal_matched,
                "action": result.action_matched,
                "resource": result.resource_matched,
                "conditions": [condition.held for condition in result.conditions],
            }
            for result in decision.statements
        ]
        assert record == case["record"]


@pytest.mark.parametrize("case", _params("malformed"))
def test_malformed(case: dict[str, Any]) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        _policy(case["policy"])

    message = str(caught.value)
    if "error" in case:
        assert message == case["error"]
    else:
        assert message.startswith(case["error_prefix"]), message


def test_case_ids_are_unique() -> None:
    ids = [case_id for case_id, _ in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_error_carries_stable_code() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy({"Statement": {"Effect": "Alow", "Action": "*"}})

    assert caught.value.code == "MalformedPolicyDocument"
    assert isinstance(caught.value, MalformedPolicyDocument)
    assert caught.value.where == "Statement[0]"


def test_json_text_and_mapping_parse_alike() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustOkta",
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/CorpIdP"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            }
        ],
    }

    assert parse_policy(json.dumps(document)) == parse_policy(document)


def test_condition_record_shows_resolved_variables() -> None:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Sid": "OwnPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "${x}"]}},
            },
        }
    )
    decision = evaluate(
        [policy], Request("s3:ListBucket", context={"aws:username": "alice", "s3:prefix": "tmp/"})
    )

    (condition,) = decision.statements[0].conditions
    assert condition.resolved_values == ("home/alice/*", None)
    assert condition.request_values == ("tmp/",)
    assert decision.describe() == (
        "denied: no statement allows s3:ListBucket; statement 0 (Sid OwnPrefix): condition "
        "StringLike s3:prefix = ['home/${aws:username}/*', '${x}'] "
        "(resolved ['home/alice/*', '<no value>']) failed, request had 'tmp/'"
    )


# --- hostile documents: refused with PolicyError, never a RecursionError ---------------------

TRUST = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/CorpIdP"},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"saml:sub": ["a"]}},
    },
}


@pytest.mark.parametrize(
    "document",
    [
        "[" * 50_000 + "]" * 50_000,  # an audit's trust policy: RecursionError (HTTP 500) before
        "[" * 1020 + "]" * 1020,  # within STS's 2,048-character session Policy
        '{"Statement":' + "[" * 3000 + "]" * 3000 + "}",
        '{"Statement":[{"Condition":{"StringEquals":{"k":' + "[" * 900 + "]" * 900 + "}}}]}",
        "{" * 40,  # unbalanced: refused for its depth before JSON sees it
    ],
    ids=["50000-arrays", "1020-arrays", "3000-in-statement", "900-in-condition", "40-open"],
)
def test_deep_text_is_refused_before_decoding(document: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)

    assert isinstance(caught.value, MalformedPolicyDocument)
    assert str(caught.value) == f"Policy: nested more than {MAX_NESTING} levels deep"


def test_deep_mapping_is_refused_without_recursing() -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    document = {"Statement": {"Effect": "Allow", "Action": "*", "Condition": deep}}

    with pytest.raises(MalformedPolicyDocument, match="nested more than"):
        parse_policy(document)


def test_nesting_at_the_limit_parses_up_to_the_grammar() -> None:
    # Depth MAX_NESTING is decoded (and then refused by the grammar, not for its depth).
    nested = "[" * (MAX_NESTING - 3) + '"v"' + "]" * (MAX_NESTING - 3)
    document = '{"Statement":[{"Condition":' + nested + "}]}"

    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document)

    assert "nested" not in str(caught.value)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    document = json.loads(json.dumps(TRUST))
    document["Statement"]["Condition"]["StringEquals"]["saml:sub"] = ["[" * 100 + '"\\{' * 50]

    assert parse_policy(json.dumps(document)).statements[0].conditions[0].values == (
        "[" * 100 + '"\\{' * 50,
    )


def test_oversized_text_is_refused_unread() -> None:
    document = json.dumps(TRUST) + " " * MAX_POLICY_CHARS

    with pytest.raises(MalformedPolicyDocument, match=f"more than the {MAX_POLICY_CHARS}"):
        parse_policy(document)


def test_number_beyond_the_digit_limit_is_malformed() -> None:
    # json.loads raises ValueError (not JSONDecodeError) for an integer over 4,300 digits.
    document = json.dumps(TRUST).replace('"a"', "1" * 5000)

    with pytest.raises(MalformedPolicyDocument, match="not valid JSON"):
        parse_policy(document)


def test_an_explanation_quotes_a_long_action_list_in_part() -> None:
    actions = [f"ec2:Describe{i}" for i in range(100)]
    policy = parse_policy({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    text = evaluate([policy], Request(action="s3:GetObject", resource="*")).describe()
    assert "Action ['ec2:Describe0', 'ec2:Describe1'" in text
    assert "… 95 more] did not match" in text
    assert "ec2:Describe99" not in text
