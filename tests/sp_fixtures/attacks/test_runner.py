"""The runner against loopback SPs (a careful one and a naive one), and the pytest fixtures."""

from __future__ import annotations

import base64
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.provider import IdentityProvider
from sp_fixtures.attacks.catalogue import attack_by_id, load_catalogue
from sp_fixtures.attacks.generator import AttackGenerator, Target
from sp_fixtures.attacks.runner import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_INCONCLUSIVE,
    AcceptanceRule,
    HttpReply,
    TargetError,
    canary,
    check_target,
    format_report,
    post_saml_response,
    run_against_sp,
)
from sp_fixtures.aws.server import RunningServer, serve_in_thread
from sp_fixtures.verify import TrustedIdp
from tests.conftest import DATA
from tests.sp_fixtures.attacks.loopback_sp import CarefulSp, NaiveSp

pytest_plugins = ["pytester"]

WORLD = DATA / "attacks" / "world.yaml"
AUDIENCE = "urn:fedharness:test-sp"
POLICY_OR_AWS = {a.id for a in load_catalogue() if a.policy or a.scope == "aws"}


@pytest.fixture(scope="module")
def provider() -> IdentityProvider:
    return IdentityProvider.from_file(WORLD)


def serve(app: CarefulSp | NaiveSp) -> RunningServer:
    server = serve_in_thread(app)
    if isinstance(app, CarefulSp):
        app.acs_url = server.url + "/acs"
    return server


@pytest.fixture
def careful(provider: IdentityProvider) -> Iterator[tuple[CarefulSp, str]]:
    app = CarefulSp(TrustedIdp.from_metadata(provider.metadata()), AUDIENCE)
    server = serve(app)
    try:
        yield app, server.url + "/acs"
    finally:
        server.stop()


@pytest.fixture
def naive() -> Iterator[tuple[NaiveSp, str]]:
    app = NaiveSp()
    server = serve(app)
    try:
        yield app, server.url + "/acs"
    finally:
        server.stop()


def generator_for(provider: IdentityProvider, url: str, canary_url: str) -> AttackGenerator:
    return AttackGenerator(
        provider, Target(user="alice", sp="loopback-sp", recipient=url), canary_url=canary_url
    )


def test_careful_sp_refuses_every_attack_and_accepts_the_control(
    provider: IdentityProvider, careful: tuple[CarefulSp, str]
) -> None:
    app, url = careful
    with canary() as listener:
        report = run_against_sp(
            generator_for(provider, url, listener.url),
            url,
            AcceptanceRule(status=200),
            listener=listener,
        )
    assert report.control.accepted, report.control.verdict
    assert report.findings == (), format_report(report)
    assert report.exit_status == EXIT_CLEAN
    accepted = {o.attack.id for o in report.outcomes if o.accepted}
    assert accepted <= POLICY_OR_AWS
    assert {"rsa-sha1-signature", "sha1-digest"} <= accepted  # CarefulSp opts into SHA-1
    replay = next(o for o in report.outcomes if o.attack.id == "replay-same-response")
    assert not replay.accepted and replay.error is None
    assert app.logins.count("alice@corp.example") >= 3  # the control and two replay primings
    assert len(report.outcomes) == len(load_catalogue())


def test_sha1_is_a_policy_verdict_and_refused_by_a_strict_sp(provider: IdentityProvider) -> None:
    sha1 = [attack_by_id("rsa-sha1-signature"), attack_by_id("sha1-digest")]
    for allow_sha1, verdict in (
        (True, "accepted (policy: refusal needs sha1-off)"),
        (False, "refused"),
    ):
        app = CarefulSp(
            TrustedIdp.from_metadata(provider.metadata()), AUDIENCE, allow_sha1=allow_sha1
        )
        server = serve(app)
        try:
            url = server.url + "/acs"
            report = run_against_sp(
                AttackGenerator(provider, Target(user="alice", sp="loopback-sp", recipient=url)),
                url,
                AcceptanceRule(status=200),
                attacks=sha1,
            )
        finally:
            server.stop()
        assert report.control.accepted and report.findings == ()
        assert [o.verdict for o in report.outcomes] == [verdict, verdict]


def test_naive_sp_is_reported_with_its_findings(
    provider: IdentityProvider, naive: tuple[NaiveSp, str]
) -> None:
    app, url = naive
    with canary() as listener:
        report = run_against_sp(
            generator_for(provider, url, listener.url),
            url,
            AcceptanceRule(text="Welcome"),
            listener=listener,
        )
    findings = {o.attack.id for o in report.findings}
    assert {"xsw3", "xsw7", "strip-all-signatures", "second-name-id"} <= findings
    assert report.exit_status == EXIT_FINDINGS
    assert "admin@corp.example" in app.logins
    assert re.search(r"^xsw3 +ACCEPTED$", format_report(report), re.MULTILINE)
    assert report.as_dict()["control_accepted"] is True


def test_control_refused_makes_the_run_inconclusive(
    provider: IdentityProvider, careful: tuple[CarefulSp, str]
) -> None:
    _, url = careful
    stranger = Target(user="alice", sp="loopback-sp", recipient=url, audiences=("urn:other",))
    report = run_against_sp(
        AttackGenerator(provider, stranger),
        url,
        AcceptanceRule(status=200),
        attacks=[attack_by_id("xsw3")],
    )
    assert report.inconclusive and report.exit_status == EXIT_INCONCLUSIVE
    assert "inconclusive" in report.summary()


def test_canary_fetches_are_findings(provider: IdentityProvider) -> None:
    """An SP that resolves external entities fetches the canary: a finding even if refused."""
    from lxml import etree

    class Fetching(etree.Resolver):
        """libxml2 >= 2.13 has no HTTP client: fetch as a vulnerable SP's resolver would."""

        def resolve(self, url: str, pubid: str, context: object) -> object:  # type: ignore[override]
            try:
                urllib.request.urlopen(url, timeout=5).read()  # noqa: S310
            except OSError:
                pass
            return self.resolve_string("", context)  # type: ignore[call-arg]

    def fetching_sp(environ: dict[str, object], start_response: object) -> list[bytes]:
        from urllib.parse import parse_qs

        stream = environ["wsgi.input"]
        length = int(str(environ.get("CONTENT_LENGTH") or 0))
        form = parse_qs(stream.read(length).decode())  # type: ignore[attr-defined]
        document = base64.b64decode(form["SAMLResponse"][0])
        parser = etree.XMLParser(load_dtd=True, no_network=False, resolve_entities=True)
        parser.resolvers.add(Fetching())
        try:
            etree.fromstring(document, parser)  # noqa: S320 - deliberately vulnerable
        except etree.XMLSyntaxError:
            pass
        start_response("403 Forbidden", [])  # type: ignore[operator]
        return [b"no"]

    server = serve_in_thread(fetching_sp)
    url = server.url + "/acs"
    try:
        with canary() as listener:
            report = run_against_sp(
                generator_for(provider, url, listener.url),
                url,
                AcceptanceRule(status=200),
                attacks=[attack_by_id("xxe-external-dtd"), attack_by_id("xsw3")],
                listener=listener,
            )
    finally:
        server.stop()
    outcome = report.outcomes[0]
    assert not outcome.accepted
    assert outcome.fetched == ("/fedharness-canary/xxe-external-dtd",)
    assert outcome.finding and "FETCHED" in outcome.verdict
    assert not report.outcomes[1].fetched


@pytest.mark.parametrize(
    "url",
    ["http://example.com/acs", "http://10.0.0.1/acs", "ftp://127.0.0.1/acs", "127.0.0.1:8000/acs"],
)
def test_non_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        check_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/acs",
        "https://localhost/acs",
        "http://[::1]:9/acs",
        "http://127.1.2.3/",
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert check_target(url) == url


def test_remote_target_allowed_on_request() -> None:
    assert check_target("https://sp.example.com/acs", allow_remote=True)


@pytest.mark.parametrize(
    ("rule", "reply", "accepted"),
    [
        (AcceptanceRule(status=302), HttpReply(302, (), b""), True),
        (AcceptanceRule(status=302), HttpReply(200, (), b""), False),
        (AcceptanceRule(text="Welcome"), HttpReply(200, (), b"<p>Welcome alice</p>"), True),
        (AcceptanceRule(text="Welcome"), HttpReply(200, (), b"<p>Sign in</p>"), False),
        (
            AcceptanceRule(cookie="sid"),
            HttpReply(302, (("Set-Cookie", "sid=abc; Path=/"),), b""),
            True,
        ),
        (
            AcceptanceRule(cookie="sid"),
            HttpReply(302, (("Set-Cookie", "sid=; Max-Age=0"),), b""),
            False,
        ),
        (AcceptanceRule(cookie="sid"), HttpReply(302, (("Set-Cookie", "other=1"),), b""), False),
    ],
    ids=[
        "status",
        "status-other",
        "text",
        "text-absent",
        "cookie",
        "cookie-cleared",
        "cookie-other",
    ],
)
def test_acceptance_rules(rule: AcceptanceRule, reply: HttpReply, accepted: bool) -> None:
    assert rule.accepts(reply) is accepted


def test_acceptance_rule_needs_exactly_one_criterion() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AcceptanceRule()
    with pytest.raises(ValueError, match="exactly one"):
        AcceptanceRule(status=200, text="x")


def test_unreachable_sp_is_not_judged(provider: IdentityProvider) -> None:
    url = "http://127.0.0.1:9/acs"
    report = run_against_sp(
        AttackGenerator(provider, Target(user="alice")),
        url,
        AcceptanceRule(status=200),
        attacks=[attack_by_id("xsw3")],
        timeout=2.0,
    )
    assert report.control.error is not None and report.inconclusive


def test_post_sends_a_form_without_following_redirects(careful: tuple[CarefulSp, str]) -> None:
    _, url = careful
    reply = post_saml_response(url, "bm90IHhtbA==", relay_state="/home")
    assert reply.status == 403 and b"refused" in reply.body


# --- the pytest fixtures, in a user's own test suite ----------------------------------------

CONFTEST = """
from pathlib import Path

import pytest

from idp.provider import IdentityProvider
from sp_fixtures.attacks.generator import Target
from sp_fixtures.attacks.pytest_fixtures import *  # noqa: F403


@pytest.fixture(scope="session")
def mock_idp():
    return IdentityProvider.from_file(Path({world!r}))


@pytest.fixture
def fedharness_attack_target():
    return Target(user="alice", sp="loopback-sp", recipient={url!r})
"""

USER_TESTS = """
from sp_fixtures.attacks.runner import format_report


def test_whole_catalogue(attack_runner):
    report = attack_runner.run({url!r}, status=200)
    assert not report.inconclusive, report.summary()
    assert not report.findings, format_report(report)


def test_one_by_one(catalogue_attack, attack_runner):
    outcome = attack_runner.send(catalogue_attack, {url!r}, status=200)
    assert not outcome.finding, outcome.verdict


def test_control(attack_runner):
    assert attack_runner.send("control", {url!r}, status=200).accepted
"""


def test_pytest_fixtures_run_the_catalogue_in_a_users_suite(
    pytester: pytest.Pytester, careful: tuple[CarefulSp, str]
) -> None:
    _, url = careful
    pytester.makeconftest(CONFTEST.format(world=str(WORLD), url=url))
    pytester.makepyfile(test_my_sp=USER_TESTS.format(url=url))
    result = pytester.runpytest_inprocess(
        "-q", "-p", "no:cacheprovider", "-k", "whole or control or xsw or replay"
    )
    one_by_one = [a for a in load_catalogue() if "xsw" in a.id or "replay" in a.id]
    result.assert_outcomes(
        passed=2 + len(one_by_one), deselected=len(load_catalogue()) - len(one_by_one)
    )


def test_pytest_fixtures_error_without_a_target(pytester: pytest.Pytester) -> None:
    # A skip would leave the user's CI green with no attack sent.
    pytester.makeconftest(
        "from sp_fixtures.attacks.pytest_fixtures import *  # noqa: F403\n"
        "import pytest\n\n@pytest.fixture\ndef mock_idp():\n    return None\n"
    )
    pytester.makepyfile("def test_x(attack_generator):\n    pass\n")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*override the 'fedharness_attack_target' fixture*"])
    assert result.ret != 0


def test_world_file_exists() -> None:
    assert Path(WORLD).is_file()
