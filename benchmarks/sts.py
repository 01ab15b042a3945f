"""Cost of the strict AssumeRoleWithSAML checks on one core, against moto's own unchecked call.

Run with ``python benchmarks/sts.py [--seconds N]``. Under moto's ``mock_aws``, with the world of
``tests/data/sts/world.yaml`` provisioned, it times per exchange:
  (a) boto3 ``assume_role_with_saml`` answered by moto alone (no checks),
  (b) the same boto3 call with ``strict_sts`` active (the checks, then minting through moto),
  (c) the checks alone (``StrictSts.judge``),
and the target: the strict checks add at most 1 ms per exchange on top of moto's own call.
Assertions are issued beforehand (issuing is not measured) and re-issued once a minute, so the
5-minute age rule passes however long the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.provider import IdentityProvider  # noqa: E402
from idp.yamlfile import load_yaml, validate  # noqa: E402
from sp_fixtures.aws.account import AwsWorld  # noqa: E402
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory  # noqa: E402
from sp_fixtures.aws.inprocess import strict_sts  # noqa: E402
from sp_fixtures.aws.provision import provision  # noqa: E402
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts  # noqa: E402

WORLD = ROOT / "tests" / "data" / "sts" / "world.yaml"
ROLE = "arn:aws:iam::111111111111:role/Admin"
PROVIDER = "arn:aws:iam::111111111111:saml-provider/CorpIdP"
TARGET_MS = 1.0
POOL_SIZE = 64
#: Re-issue the pool when it is older than this (AWS refuses assertions over 5 minutes old).
POOL_MAX_AGE = 60.0

Params = dict[str, Any]


class AssertionPool:
    """Request parameters around signed assertions issued within the last minute."""

    def __init__(self, provider: IdentityProvider, size: int) -> None:
        self.provider = provider
        self.size = size
        self.issued_at = 0.0
        self.requests: list[Params] = []

    def fresh(self) -> list[Params]:
        """Return the pool, re-issuing every assertion once it is a minute old."""
        if time.monotonic() - self.issued_at > POOL_MAX_AGE:
            now = dt.datetime.now(dt.UTC)
            # One Role value only: moto's own call crashes on several (aws-sts-saml.md §5.6).
            self.requests = [
                {
                    "RoleArn": ROLE,
                    "PrincipalArn": PROVIDER,
                    "SAMLAssertion": self.provider.issue(
                        "alice", role_arn=ROLE, now=now
                    ).saml_response,
                }
                for _ in range(self.size)
            ]
            self.issued_at = time.monotonic()
        return self.requests


def per_exchange_ms(
    exchange: Callable[[Params], object], pool: AssertionPool, seconds: float
) -> float:
    """Return milliseconds per call of ``exchange`` over about ``seconds`` (after a warm-up)."""
    for params in pool.fresh()[:3]:
        exchange(params)
    count = 0
    spent = 0.0
    while spent < seconds:
        batch = pool.fresh()  # re-issuing, when due, happens outside the timed part
        start = time.perf_counter()
        for params in batch:
            exchange(params)
        spent += time.perf_counter() - start
        count += len(batch)
    return 1000 * spent / count


def sts_client() -> Any:
    """Return a boto3 STS client for moto (it checks no credentials)."""
    return boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto checks no secret
    )


def checked_answer(answer: Any) -> None:
    """Fail loudly if an exchange did not return credentials."""
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA"), answer


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    provider = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name="sts-benchmark",
        )
        sts = StrictSts(MotoIam(provisioned.extras))
        pool = AssertionPool(provider, POOL_SIZE)
        print(
            f"one core, {POOL_SIZE} pre-issued assertions (re-issued every "
            f"{POOL_MAX_AGE:.0f} s), {args.seconds:.1f} s per measurement"
        )

        moto_client = sts_client()

        def moto_only(params: Params) -> None:
            checked_answer(moto_client.assume_role_with_saml(**params))

        moto_ms = per_exchange_ms(moto_only, pool, args.seconds)

        with strict_sts(sts):
            strict_client = sts_client()

            def strict(params: Params) -> None:
                checked_answer(strict_client.assume_role_with_saml(**params))

            strict_ms = per_exchange_ms(strict, pool, args.seconds)

        def judge(params: Params) -> None:
            verdict = sts.judge(AssumeRoleWithSamlRequest.from_params(params))
            assert verdict.error is None, verdict.error

        judge_ms = per_exchange_ms(judge, pool, args.seconds)

    added = strict_ms - moto_ms
    print(f"{'(a) boto3 -> moto alone (no checks)':<48} {moto_ms:8.3f} ms/exchange")
    print(f"{'(b) boto3 -> strict_sts (checks + moto mint)':<48} {strict_ms:8.3f} ms/exchange")
    print(f"{'(c) StrictSts.judge alone':<48} {judge_ms:8.3f} ms/exchange")
    print(f"\nadded by the strict layer (b - a) = {added:6.3f} ms")
    if added < 0:
        print("  (negative: strict_sts answers before moto parses the request and renders its XML,")
        print("   and mints through moto's model directly; (c) is what the checks cost)")
    print(f"strict checks alone (c)           = {judge_ms:6.3f} ms")
    holds = added <= TARGET_MS and judge_ms <= TARGET_MS
    print(
        f"target: the strict checks add at most {TARGET_MS:g} ms per exchange on top of "
        f"moto's own call  {'OK' if holds else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
