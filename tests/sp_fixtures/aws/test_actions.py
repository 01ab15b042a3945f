"""The IAM action catalogue: names checked, case folded as IAM does, wildcards expanded."""

from __future__ import annotations

import pytest

from sp_fixtures.aws.actions import UnknownActionError, expand


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("s3:GetObject", ("s3:GetObject",)),
        ("S3:getobject", ("s3:GetObject",)),  # IAM compares actions without regard to case
        ("iam:CreateUser", ("iam:CreateUser",)),
        (
            "vpc-lattice:AssociateViaAWSService-EventsAndStates",  # a hyphen in the name
            ("vpc-lattice:AssociateViaAWSService-EventsAndStates",),
        ),
    ],
)
def test_a_documented_action_is_itself_as_aws_spells_it(
    action: str, expected: tuple[str, ...]
) -> None:
    assert expand(action) == expected


def test_wildcards_expand_to_every_matching_action() -> None:
    every_s3 = expand("s3:*")
    gets = expand("s3:Get*")
    assert "s3:GetObject" in gets and "s3:PutObject" not in gets
    assert set(gets) < set(every_s3)
    assert all(action.startswith("s3:Get") for action in gets)
    assert expand("s3:GetObjec?") == ("s3:GetObject",)
    assert len(expand("*")) == len(expand("*:*")) > 10_000
    assert {action.split(":")[0] for action in expand("ec2*:Describe*")} >= {"ec2"}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("iam:CreatUser", "iam:CreatUser is not an action of iam (did you mean iam:CreateUser"),
        ("s3:PutObjekt", "s3:PutObjekt is not an action of s3 (did you mean s3:PutObject"),
        ("sts3:GetObject", "no AWS service has the action prefix 'sts3' (did you mean"),
        ("s3:Frobnicate*", "s3:Frobnicate* matches no AWS action"),
        ("GetObject", "'GetObject' is not an IAM action: write service:Action"),
        ("s3:", "'s3:' is not an IAM action"),
        ("s3:Get[OP]*", "'s3:Get[OP]*' is not an IAM action"),  # not a glob set: IAM has none
        ("../../etc/passwd:x", "'../../etc/passwd:x' is not an IAM action"),
    ],
)
def test_unknown_or_malformed_actions_are_refused(action: str, message: str) -> None:
    with pytest.raises(UnknownActionError) as raised:
        expand(action)
    assert raised.value.message.startswith(message)
