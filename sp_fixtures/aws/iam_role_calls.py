"""IAM's role trust-policy calls, checked before moto stores the document.

moto's ``CreateRole`` stores any ``AssumeRolePolicyDocument`` — ``{bad``, or 50,000 nested
``[`` that later made the strict STS recurse until it failed (HTTP 500) when judging an
AssumeRoleWithSAML for that role. ``UpdateAssumeRolePolicy`` checks only that the text is JSON.
:func:`check_role_call` refuses first what IAM refuses, for both calls:

- the API model's constraints on ``policyDocumentType`` (1–131,072 characters of
  ``[\\u0009\\u000A\\u000D\\u0020-\\u00FF]``): ``ValidationError``, in AWS's "N validation error(s)
  detected" form (the document itself is not echoed, as for STS's ``Policy``);
- a document :func:`~sp_fixtures.aws.policy.parse_policy` refuses: ``MalformedPolicyDocument``
  (400). For text that is not JSON the message is IAM's "Syntax errors in policy." (moto's
  UpdateAssumeRolePolicy answers the same); for anything else the parser's reason, which is ours;
- a document longer than the default "Role trust policy length" quota, 2,048 characters not
  counting white space (IAM User Guide, IAM and AWS STS quotas; adjustable on AWS, not here):
  ``LimitExceeded`` (409) with the message AWS users report, "Cannot exceed quota for
  ACLSizePerRole: 2048".

The order (constraints, then syntax, then quota) is ours: AWS's is not documented.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sp_fixtures.aws.account import TRUST_POLICY_QUOTA, trust_policy_size
from sp_fixtures.aws.policy import MalformedPolicyDocument as PolicyMalformed
from sp_fixtures.aws.policy import PolicyError, parse_policy
from sp_fixtures.aws.saml_provider_calls import IamRefusal, IamValidationError, LimitExceeded

__all__ = [
    "ROLE_POLICY_PARAMETERS",
    "TRUST_POLICY_QUOTA",
    "MalformedPolicyDocument",
    "check_role_call",
]

ROLE_POLICY_PARAMETERS = {
    "CreateRole": "AssumeRolePolicyDocument",
    "UpdateAssumeRolePolicy": "PolicyDocument",
}
"""The IAM calls that set a role's trust policy → the parameter carrying it."""
MIN_POLICY_CHARS, MAX_POLICY_CHARS = 1, 131_072
"""``policyDocumentType``'s length (botocore's IAM model)."""
POLICY_PATTERN = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
"""``policyDocumentType``'s pattern, as AWS's validation message quotes it."""
_POLICY_CHARACTERS = re.compile(r"[\t\n\r\x20-\xff]+")
SYNTAX_ERRORS = "Syntax errors in policy."


class MalformedPolicyDocument(IamRefusal):
    """The trust policy is not a valid policy document."""

    code = "MalformedPolicyDocument"


def check_role_call(action: str, params: Mapping[str, str]) -> None:
    """Refuse a CreateRole / UpdateAssumeRolePolicy whose trust policy IAM would refuse.

    Other actions, and a call without the parameter (refused as a missing required parameter
    before this), pass.
    """
    name = ROLE_POLICY_PARAMETERS.get(action)
    if name is None or name not in params:
        return
    document = params[name]
    _check_constraints(name, document)
    try:
        parse_policy(document)
    except PolicyMalformed as exc:
        syntax = exc.where == "Policy" and exc.problem.startswith(("not valid JSON", "nested"))
        raise MalformedPolicyDocument(
            SYNTAX_ERRORS if syntax else str(exc), detail=str(exc)
        ) from None
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    counted = trust_policy_size(document)
    if counted > TRUST_POLICY_QUOTA:
        raise LimitExceeded(
            f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}",
            detail=f"the trust policy has {counted} characters besides white space",
        )


def _check_constraints(name: str, document: str) -> None:
    field = name[0].lower() + name[1:]
    problems = []
    if len(document) < MIN_POLICY_CHARS:
        problems.append(f"Member must have length greater than or equal to {MIN_POLICY_CHARS}")
    elif len(document) > MAX_POLICY_CHARS:
        problems.append(f"Member must have length less than or equal to {MAX_POLICY_CHARS}")
    if document and not _POLICY_CHARACTERS.fullmatch(document):
        problems.append(f"Member must satisfy regular expression pattern: {POLICY_PATTERN}")
    if problems:
        details = [
            f"Value '***' at '{field}' failed to satisfy constraint: {problem}"
            for problem in problems
        ]
        plural = "s" if len(details) > 1 else ""
        raise IamValidationError(
            f"{len(details)} validation error{plural} detected: {'; '.join(details)}"
        )
