"""Aim the catalogue at a service provider's ACS and report which attacks it accepted.

Every variant — and first the untampered control — is POSTed as ``SAMLResponse`` (HTTP-POST
binding) in a fresh connection, without following redirects, and judged by one
:class:`AcceptanceRule` the user gives: a status code, a text in the page, or a cookie set. A run
whose control is refused proves nothing (the SP does not trust the IdP, or the rule is wrong) and
is reported as inconclusive. Targets must be on loopback unless explicitly allowed: the tool
sends forged credentials. A :class:`CanaryListener` records any out-of-band fetch (XXE,
XInclude) the SP makes while parsing.
"""

from __future__ import annotations

import http.client
import ipaddress
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

from sp_fixtures.attacks.catalogue import Attack
from sp_fixtures.attacks.errors import GeneratorError, TargetError
from sp_fixtures.attacks.generator import AttackGenerator, BuiltAttack

__all__ = [
    "AcceptanceRule",
    "AttackReport",
    "CanaryListener",
    "HttpReply",
    "Outcome",
    "TargetError",
    "canary",
    "check_target",
    "format_report",
    "post_saml_response",
    "run_against_sp",
    "send",
    "sts_parameters",
]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCONCLUSIVE = 0, 1, 2


def check_target(url: str, *, allow_remote: bool = False) -> str:
    """Return ``url`` if it is an http(s) URL on loopback (or ``allow_remote``), else raise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{url!r} is not an http:// or https:// URL")
    if not allow_remote and not is_loopback(parts.hostname):
        raise TargetError(
            f"{parts.hostname} is not a loopback address: the attacks are forged logins; aim them "
            "at a test instance on this machine, or pass --allow-remote for one you own"
        )
    return url


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpReply:
    """What the ACS answered to one POST."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def cookies(self) -> dict[str, str]:
        """Return the cookies the reply sets, by name (later ones win)."""
        found: dict[str, str] = {}
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, cookie = pair.partition("=")
                found[key.strip()] = cookie.strip()
        return found


@dataclass(frozen=True)
class AcceptanceRule:
    """How to tell that the SP logged the user in: exactly one of the three."""

    status: int | None = None
    """The HTTP status of an accepted login (e.g. 200, or 302 for a redirect)."""
    text: str | None = None
    """A text that appears in the page only after a login."""
    cookie: str | None = None
    """A cookie (by name) set, with a value, only by a login."""

    def __post_init__(self) -> None:
        given = [rule for rule in (self.status, self.text, self.cookie) if rule is not None]
        if len(given) != 1:
            raise ValueError("give exactly one acceptance rule: a status, a text or a cookie")

    def accepts(self, reply: HttpReply) -> bool:
        """Return whether ``reply`` shows an accepted login."""
        if self.status is not None:
            return reply.status == self.status
        if self.text is not None:
            return self.text in reply.body.decode("utf-8", "replace")
        return bool(reply.cookies().get(self.cookie or ""))

    def describe(self) -> str:
        """Return the rule in words, for reports."""
        if self.status is not None:
            return f"status {self.status}"
        if self.text is not None:
            return f"page contains {self.text!r}"
        return f"cookie {self.cookie!r} set"


def post_saml_response(
    url: str, saml_response: str, *, relay_state: str | None = None, timeout: float = 10.0
) -> HttpReply:
    """POST one SAMLResponse as a form, in a fresh connection, without following redirects."""
    parts = urlsplit(url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.netloc, timeout=timeout)
    fields = {"SAMLResponse": saml_response}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request(
            "POST",
            path,
            body=urlencode(fields),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "fedharness-attack",
            },
        )
        response = connection.getresponse()
        return HttpReply(response.status, tuple(response.getheaders()), response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Outcome:
    """What the SP did with one variant (or the control)."""

    attack: Attack
    accepted: bool
    status: int | None
    """HTTP status of the judged POST (None when it failed)."""
    error: str | None = None
    """Why the variant could not be judged (connection error, priming refused, …)."""
    fetched: tuple[str, ...] = ()
    """Canary paths the SP fetched while handling it (out-of-band XXE / XInclude)."""

    @property
    def is_control(self) -> bool:
        """Return whether this is the positive control."""
        return self.attack.id == "control"

    @property
    def finding(self) -> bool:
        """Return whether this is a security finding: an accepted attack or a canary fetch."""
        if self.is_control:
            return False
        if self.fetched:
            return True
        return (
            self.accepted
            and not self.attack.policy
            and (self.attack.expect.safe_if is None)
            and self.attack.scope == "any"
        )

    @property
    def verdict(self) -> str:
        """Return a short verdict for reports."""
        if self.error is not None:
            return f"not judged: {self.error}"
        if self.is_control:
            return "accepted (control)" if self.accepted else "REFUSED (control)"
        fetched = f"; FETCHED {', '.join(self.fetched)}" if self.fetched else ""
        if not self.accepted:
            return "refused" + fetched
        if self.attack.policy:
            return f"accepted (policy: refusal needs {self.attack.expect.requires})" + fetched
        if self.attack.scope == "aws":
            return "accepted (an AWS rule; other SPs may accept it)" + fetched
        if self.attack.expect.safe_if is not None:
            return f"accepted — safe only if {self.attack.expect.safe_if}" + fetched
        return "ACCEPTED" + fetched


@dataclass(frozen=True)
class AttackReport:
    """The outcome of one run against one ACS."""

    target: str
    rule: str
    control: Outcome
    outcomes: tuple[Outcome, ...]

    @property
    def inconclusive(self) -> bool:
        """Return whether the control was refused (nothing else then means anything)."""
        return not self.control.accepted

    @property
    def findings(self) -> tuple[Outcome, ...]:
        """Return the accepted attacks and canary fetches."""
        return tuple(outcome for outcome in self.outcomes if outcome.finding)

    @property
    def exit_status(self) -> int:
        """Return 0 when every attack was refused, 1 on findings, 2 when inconclusive."""
        if self.inconclusive:
            return EXIT_INCONCLUSIVE
        return EXIT_FINDINGS if self.findings else EXIT_CLEAN

    def summary(self) -> str:
        """Return one line saying how the run went."""
        if self.inconclusive:
            return (
                f"inconclusive: the control was refused by {self.target} ({self.rule}); "
                "check that the SP trusts the IdP metadata and the acceptance rule"
            )
        judged = [outcome for outcome in self.outcomes if outcome.error is None]
        refused = sum(1 for outcome in judged if not outcome.accepted)
        skipped = len(self.outcomes) - len(judged)
        unjudged = f", {skipped} not judged" if skipped else ""
        return (
            f"{refused} of {len(judged)} attacks refused{unjudged}, {len(self.findings)} "
            f"finding(s); control accepted ({self.rule})"
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "target": self.target,
            "acceptance_rule": self.rule,
            "control_accepted": self.control.accepted,
            "exit_status": self.exit_status,
            "findings": [outcome.attack.id for outcome in self.findings],
            "outcomes": [
                {
                    "id": o.attack.id,
                    "family": o.attack.family.value,
                    "accepted": o.accepted,
                    "status": o.status,
                    "verdict": o.verdict,
                    "finding": o.finding,
                    "error": o.error,
                    "fetched": list(o.fetched),
                }
                for o in (self.control, *self.outcomes)
            ],
        }


@dataclass
class CanaryListener:
    """An HTTP listener on loopback that records every path requested from it."""

    host: str = "127.0.0.1"
    hits: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Return the base URL variants point out-of-band fetches at."""
        if self._server is None:
            raise RuntimeError("the canary listener is not running")
        return f"http://{self.host}:{self._server.server_address[1]}/fedharness-canary"

    def start(self) -> CanaryListener:
        """Start listening on a free port in a daemon thread."""
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self) -> tuple[str, ...]:
        """Return the paths hit since the last call and forget them."""
        taken = tuple(self.hits)
        self.hits.clear()
        return taken


@contextmanager
def canary() -> Iterator[CanaryListener]:
    """Run a :class:`CanaryListener` for the duration of the block."""
    listener = CanaryListener().start()
    try:
        yield listener
    finally:
        listener.stop()


def send(
    built: BuiltAttack,
    url: str,
    rule: AcceptanceRule,
    *,
    relay_state: str | None = None,
    timeout: float = 10.0,
    listener: CanaryListener | None = None,
) -> Outcome:
    """POST one built attack (priming documents first) and judge the last reply."""
    reply: HttpReply | None = None
    try:
        for index, saml_response in enumerate(built.saml_responses):
            reply = post_saml_response(url, saml_response, relay_state=relay_state, timeout=timeout)
            priming = index < len(built.documents) - 1
            if priming and not rule.accepts(reply):
                fetched = listener.take() if listener is not None else ()
                return Outcome(
                    built.attack,
                    False,
                    reply.status,
                    error="the genuine priming response was refused",
                    fetched=fetched,
                )
    except (OSError, http.client.HTTPException) as exc:
        fetched = listener.take() if listener is not None else ()
        return Outcome(
            built.attack, False, None, error=f"{type(exc).__name__}: {exc}", fetched=fetched
        )
    assert reply is not None  # noqa: S101 - a built attack has at least one document
    fetched = listener.take() if listener is not None else ()
    return Outcome(built.attack, rule.accepts(reply), reply.status, fetched=fetched)


def run_against_sp(
    generator: AttackGenerator,
    url: str,
    rule: AcceptanceRule,
    *,
    attacks: Iterable[Attack] | None = None,
    relay_state: str | None = None,
    timeout: float = 10.0,
    allow_remote: bool = False,
    listener: CanaryListener | None = None,
) -> AttackReport:
    """Send the control, then every attack, to the ACS at ``url``; return the report."""
    check_target(url, allow_remote=allow_remote)
    control = send(
        generator.control(), url, rule, relay_state=relay_state, timeout=timeout, listener=listener
    )
    outcomes: list[Outcome] = []
    for attack in attacks if attacks is not None else _catalogue():
        try:
            built = generator.build(attack)
        except GeneratorError as exc:  # e.g. a Role attack for a user without roles
            outcomes.append(Outcome(attack, False, None, error=f"not applicable: {exc}"))
            continue
        outcomes.append(
            send(built, url, rule, relay_state=relay_state, timeout=timeout, listener=listener)
        )
    return AttackReport(url, rule.describe(), control, tuple(outcomes))


def _catalogue() -> tuple[Attack, ...]:
    from sp_fixtures.attacks.catalogue import load_catalogue

    return load_catalogue()


def sts_parameters(built: BuiltAttack) -> dict[str, str]:
    """Return AssumeRoleWithSAML parameters asking for the role the attack carries."""
    if built.role_arn is None or built.principal_arn is None:
        raise ValueError("the user's response has no Role attribute: not an AWS target")
    return {
        "RoleArn": built.role_arn,
        "PrincipalArn": built.principal_arn,
        "SAMLAssertion": built.saml_response,
    }


def format_report(report: AttackReport) -> str:
    """Return the report as plain text: one line per variant, then the summary."""
    width = max(len(o.attack.id) for o in (report.control, *report.outcomes))
    lines = [f"{report.control.attack.id:<{width}}  {report.control.verdict}"]
    lines += [f"{o.attack.id:<{width}}  {o.verdict}" for o in report.outcomes]
    return "\n".join([*lines, report.summary()])
