"""The browser demo: the web IdP, the emulated AWS sign-in and the strict STS in one process.

The IdP is served twice: its own pages, and its ADFS-compatible mode over TLS (for aws-adfs).

AWS checks that an assertion's Recipient and Destination are an AWS sign-in URL
(``https://signin.aws.amazon.com/saml``, aws-sts-saml.md), so the IdP keeps that URL in the
assertion while the browser posts the form to the local emulated sign-in (the SP's ``post_to``).
All three share moto's in-process backends: the world provisioned through the STS server's IAM
API is what the sign-in's strict STS reads, and credentials minted by either are honoured by both.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import shutil
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from lxml import etree

from idp.saml.builder import new_id, saml_time
from idp.saml.constants import NS, qname

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.wrappers import Response as WerkzeugResponse

    from idp.app import RunningIdp
    from idp.web_settings import SpTrust
    from scenarios.loader import LoadedScenario
    from sp_fixtures.aws.server import RunningServer

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "examples" / "quickstart.yaml"
"""The scenario the demo runs when given none."""
AWS_SIGNIN_HOST = "signin.aws.amazon.com"
AWS_SP_ENTITY_ID = "urn:amazon:webservices"
"""The entityID of AWS sign-in as a SAML SP (its metadata's)."""
SP_INITIATED_PATH = "/demo/sp-initiated"
_DEMO_ACCESS_KEY = "fedharness-demo"


@dataclass
class RunningDemo:
    """The demo's servers, the scenario they serve and the roles provisioned."""

    scenario: LoadedScenario
    idp: RunningIdp
    signin: RunningServer
    sts: RunningServer
    adfs: RunningIdp
    """The same IdP in ADFS-compatible mode, over TLS (for aws-adfs)."""
    tls_dir: Path
    """Holds the ADFS mode's self-signed certificate and key; removed by :meth:`stop`."""
    saml_providers: tuple[str, ...]
    roles: tuple[str, ...]

    @property
    def login_url(self) -> str:
        """Return the page to open: the IdP's login page (IdP-initiated sign-in to AWS)."""
        return f"{self.idp.url}/login"

    @property
    def sp_initiated_url(self) -> str:
        """Return the emulated sign-in's page that starts an SP-initiated sign-in."""
        return f"{self.signin.url}{SP_INITIATED_PATH}"

    @property
    def adfs_host(self) -> str:
        """Return what aws-adfs takes as ``--adfs-host``."""
        return self.adfs.url.removeprefix("https://")

    def stop(self) -> None:
        """Stop the servers and remove the TLS key."""
        for server in (self.adfs, self.idp, self.signin, self.sts):
            server.stop()
        shutil.rmtree(self.tls_dir, ignore_errors=True)

    def banner(self) -> str:
        """Return what ``fedharness demo`` prints: the URL to open, then the rest."""
        from scenarios.adfs_mode import AWS_RELYING_PARTY, SIGNON_PATH

        users = ", ".join(user.name for user in self.scenario.directory.users())
        lines = [
            f"fedharness demo: {self.scenario.name} ({self.scenario.path})",
            f"open {self.login_url}",
            f"  users: {users}",
            f"  SP-initiated sign-in:  {self.sp_initiated_url}",
            f"  emulated AWS sign-in:  {self.signin.url}/saml (assertions keep "
            f"https://{AWS_SIGNIN_HOST}/saml as Recipient)",
            f"  assertion inspector:   {self.signin.url}/inspect",
            f"  strict STS + IAM:      {self.sts.url}",
        ]
        lines += [f"    saml-provider {arn}" for arn in self.saml_providers]
        lines += [f"    role          {arn}" for arn in self.roles]
        lines += [
            f"  ADFS mode (TLS, self-signed): {self.adfs.url}{SIGNON_PATH}"
            f"?loginToRp={AWS_RELYING_PARTY}",
            "  AWS CLI: fedharness idp assertion --config "
            f"{self.scenario.path} --user NAME > response.b64",
            f"    aws --endpoint-url {self.sts.url} sts assume-role-with-saml "
            "--role-arn ROLE_ARN --principal-arn PROVIDER_ARN "
            "--saml-assertion file://response.b64",
            f"  aws-adfs: AWS_ENDPOINT_URL_STS={self.sts.url} aws-adfs login --adfs-host "
            f"{self.adfs_host} --no-ssl-verification --stdout --role-arn ROLE_ARN",
            "Ctrl-C stops the demo.",
        ]
        return "\n".join(lines)


def start_demo(
    config: Path = DEFAULT_SCENARIO,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    signin_port: int = 0,
    sts_port: int = 0,
    adfs_port: int = 0,
) -> RunningDemo:
    """Provision ``config``'s AWS world; serve the IdP (also in ADFS mode), sign-in and STS.

    Ports are free ones unless given. Raises the loader's errors for a bad scenario and OSError
    for a busy port; whatever was started before a failure is stopped.
    """
    from idp.app import WebConfig
    from idp.app import serve_in_thread as serve_idp
    from scenarios.adfs_mode import serve_adfs_in_thread
    from scenarios.loader import load_scenario
    from sp_fixtures.aws.iam_view import MotoIam, ProviderExtras
    from sp_fixtures.aws.server import StrictStsApp
    from sp_fixtures.aws.server import serve_in_thread as serve_wsgi
    from sp_fixtures.aws.signin import create_signin_app
    from sp_fixtures.aws.sts import StrictSts

    loaded = load_scenario(config)
    web_config = WebConfig.from_file(config)
    extras = ProviderExtras()

    def strict_sts() -> StrictSts:
        return StrictSts(MotoIam(extras), allow_sha1=loaded.scenario.sts.allow_sha1)

    started: list[RunningServer | RunningIdp] = []
    tls_dir = Path(tempfile.mkdtemp(prefix="fedharness-demo-tls-"))
    try:
        sts = serve_wsgi(StrictStsApp(strict_sts(), extras=extras), host=host, port=sts_port)
        started.append(sts)
        signin_app = create_signin_app(strict_sts())
        signin = serve_wsgi(signin_app, host=host, port=signin_port)
        started.append(signin)
        local = dataclasses.replace(
            web_config, trust=local_aws_trust(web_config.trust or {}, signin.url)
        )
        idp = serve_idp(local, host=host, port=port)
        started.append(idp)
        adfs = serve_adfs_in_thread(local, tls_dir, host=host, port=adfs_port)
        started.append(adfs)
        add_sp_initiated_start(signin_app, idp_sso_url=f"{idp.url}/sso")
        providers, roles = provision_through(loaded, sts.url)
    except BaseException:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(tls_dir, ignore_errors=True)
        raise
    return RunningDemo(loaded, idp, signin, sts, adfs, tls_dir, providers, roles)


def local_aws_trust(trust: Mapping[str, SpTrust], signin_url: str) -> dict[str, SpTrust]:
    """Post the responses for AWS sign-in to ``signin_url``; they keep AWS's ACS as Recipient.

    An SP without an entityID gets AWS's, so the demo's SP-initiated sign-in is accepted.
    """
    local: dict[str, SpTrust] = {}
    for name, sp in trust.items():
        acs = urlsplit(sp.acs_urls[0])
        if not acs.hostname or not acs.hostname.endswith(AWS_SIGNIN_HOST):
            local[name] = sp
            continue
        local[name] = dataclasses.replace(
            sp,
            post_to=sp.post_to or f"{signin_url}{acs.path or '/saml'}",
            entity_id=sp.entity_id or AWS_SP_ENTITY_ID,
        )
    return local


def provision_through(
    loaded: LoadedScenario, endpoint_url: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Create the scenario's providers and roles through the STS server's IAM API."""
    import boto3

    from sp_fixtures.aws.iam_view import pin_moto_account
    from sp_fixtures.aws.provision import provision

    session = boto3.Session(
        aws_access_key_id=_DEMO_ACCESS_KEY,
        aws_secret_access_key="moto-checks-no-secret",  # noqa: S106 - moto
        region_name="us-east-1",
    )

    def iam_client(account_id: str) -> Any:
        client = session.client("iam", endpoint_url=endpoint_url)
        pin_moto_account(client, account_id)
        return client

    provisioned = provision(
        loaded.scenario.aws,
        iam_client_factory=iam_client,
        idp_metadata=loaded.provider.metadata(),
        base_dir=loaded.path.parent,
        scenario_name="".join(c if c.isalnum() or c in "+-=._:/@" else "-" for c in loaded.name)[
            :200
        ]
        or "fedharness",
    )
    return provisioned.saml_providers, provisioned.roles


def authn_request_url(
    idp_sso_url: str,
    *,
    issuer: str = AWS_SP_ENTITY_ID,
    acs: str | None = None,
    relay_state: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Return an HTTP-Redirect URL carrying an unsigned AuthnRequest from ``issuer``."""
    request = _element("AuthnRequest", NS.SAMLP)
    request.set("ID", new_id())
    request.set("Version", "2.0")
    request.set("IssueInstant", saml_time(now or dt.datetime.now(dt.UTC)))
    request.set("Destination", idp_sso_url)
    request.set("ProtocolBinding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    if acs is not None:
        request.set("AssertionConsumerServiceURL", acs)
    issuer_element = _element("Issuer", NS.SAML)
    issuer_element.text = issuer
    request.append(issuer_element)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(etree.tostring(request)) + compressor.flush()
    params = {"SAMLRequest": base64.b64encode(deflated).decode("ascii")}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return f"{idp_sso_url}?{urlencode(params)}"


def _element(local: str, namespace: NS) -> etree._Element:
    return etree.Element(qname(namespace, local), nsmap={"samlp": NS.SAMLP, "saml": NS.SAML})


def add_sp_initiated_start(app: Flask, *, idp_sso_url: str) -> None:
    """Add ``/demo/sp-initiated`` to the sign-in app: redirect to the IdP with an AuthnRequest.

    AWS sign-in itself starts no SAML flow; this stands in for any SP that does.
    """
    from flask import redirect

    def start() -> WerkzeugResponse:
        return redirect(authn_request_url(idp_sso_url, acs=f"https://{AWS_SIGNIN_HOST}/saml"))

    app.add_url_rule(SP_INITIATED_PATH, "demo_sp_initiated", start, methods=["GET"])
