"""Fixtures for the web IdP: a config file, the IdP on a free port in a thread, pysaml2 SPs.

Layered like pytest-httpserver: ``idp_web_config_path`` (override it) → ``idp_web_server``
(session, a real HTTP server on 127.0.0.1:0) → ``idp_web`` (per test: run-time changes reset,
and any exception that became a 500 page fails the test).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from lxml import html as lxml_html

from idp.app import RunningIdp, WebConfig, bind, serve_in_thread, url_of
from tests.conftest import CERTS
from tests.idp.saml.independent import XMLSEC1

ADMIN = "arn:aws:iam::111111111111:role/Admin"
READ_ONLY = "arn:aws:iam::111111111111:role/ReadOnly"
PROVIDER = "arn:aws:iam::111111111111:saml-provider/CorpIdP"
IDP_ENTITY_ID = "https://idp.test/saml"
SP_NAMES = {"plain-sp": False, "signed-sp": True}
"""The pysaml2 SPs, and whether their metadata says AuthnRequestsSigned."""


def write_idp_config(folder: Path, sp_base: str) -> Path:
    """Write the web IdP's config (and the SPs' metadata files) into ``folder``."""
    service_providers = "".join(
        f"    {name}: {{acs: '{sp_base}/{name}/acs', audience: ['http://{name}.test/metadata'],"
        f" name_id_format: transient}}\n"
        for name in SP_NAMES
    )
    if XMLSEC1 is not None:  # the SPs' own metadata, as pysaml2 publishes it
        from tests.idp.web.pysaml2_sp import sp_metadata

        for name, signed in SP_NAMES.items():
            (folder / f"{name}.xml").write_bytes(sp_metadata(name, sp_base, sign_requests=signed))
        web_sps = "".join(f"      {name}: {{metadata: {name}.xml}}\n" for name in SP_NAMES)
    else:  # pysaml2 cannot run: the same facts, stated explicitly
        web_sps = "".join(
            f"      {name}: {{entity_id: 'http://{name}.test/metadata', signing_certs: "
            f"['{CERTS / 'sample-sp.crt'}'], want_authn_requests_signed: {str(signed).lower()}, "
            f"slo_url: '{sp_base}/{name}/slo'}}\n"
            for name, signed in SP_NAMES.items()
        )
    path = folder / "idp.yaml"
    path.write_text(f"""\
idp:
  entity_id: {IDP_ENTITY_ID}
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: ['{ADMIN}'], readers: ['{READ_ONLY}']}}
  service_providers:
    aws: {{}}
{service_providers}  web:
    service_providers:
{web_sps}      aws:
        relay_state: https://console.aws.amazon.com/
directory:
  users:
    alice: {{email: alice@corp.example, display_name: Alice Admin, groups: [platform]}}
    bob: {{email: bob@corp.example, groups: [readers], password: hunter2}}
    dave: {{groups: [readers]}}
  groups:
    platform: {{member_of: [admins, readers]}}
""")
    return path


@dataclass
class WebWorld:
    """The running IdP, the running pysaml2 SPs and the config they came from."""

    idp: RunningIdp
    sp: Any
    """tests.idp.web.pysaml2_sp.SpServer, or None without xmlsec1."""
    config_path: Path


@pytest.fixture(scope="session")
def idp_web_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebWorld]:
    """Start the IdP and, when xmlsec1 is installed, the pysaml2 SPs, on free ports."""
    folder = tmp_path_factory.mktemp("web-idp")
    sp_listener = bind("127.0.0.1", 0)
    sp_base = url_of(sp_listener)
    config_path = write_idp_config(folder, sp_base)
    idp = serve_in_thread(WebConfig.from_file(config_path))
    sp = None
    try:
        if XMLSEC1 is not None:
            from tests.idp.web.pysaml2_sp import start_sp_server

            metadata = folder / "idp-metadata.xml"
            metadata.write_bytes(requests.get(f"{idp.url}/metadata", timeout=10).content)
            sp = start_sp_server(sp_listener, SP_NAMES, metadata, IDP_ENTITY_ID)
        else:
            sp_listener.close()
        yield WebWorld(idp, sp, config_path)
    finally:
        if sp is not None:
            sp.stop()
        idp.stop()


@pytest.fixture(scope="session")
def idp_web_server(idp_web_world: WebWorld) -> RunningIdp:
    """Return the web IdP served on 127.0.0.1 from a thread (``.url``, ``.state``)."""
    return idp_web_world.idp


@pytest.fixture
def idp_web(idp_web_server: RunningIdp) -> Iterator[RunningIdp]:
    """Return the served IdP for one test; fail the test if the IdP raised unexpectedly."""
    state = idp_web_server.state
    state.unexpected.clear()
    yield idp_web_server
    state.directory.reset()
    errors, state.unexpected[:] = list(state.unexpected), []
    if errors:
        raise errors[0]


@pytest.fixture
def sp_server(idp_web_world: WebWorld, idp_web: RunningIdp) -> Any:
    """Return the pysaml2 SPs' server; skipped without xmlsec1, which pysaml2 signs with."""
    if idp_web_world.sp is None:
        pytest.skip("pysaml2 needs the xmlsec1 command-line tool (apt-get install xmlsec1)")
    return idp_web_world.sp


class Browser:
    """A browser without JavaScript: follows redirects, keeps cookies, submits forms."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET ``url``."""
        return self.session.get(url, timeout=30, **kwargs)

    def submit(
        self,
        page: requests.Response,
        *,
        form_id: str | None = None,
        button: tuple[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> requests.Response:
        """Submit a form of ``page`` (by id, else the first), as pressing ``button`` would."""
        form = form_of(page, form_id)
        fields = {
            str(element.get("name")): str(element.get("value") or "")
            for element in form.iter("input")
            if element.get("name") and element.get("type") not in ("checkbox", "submit")
        }
        fields.update(values or {})
        if button is not None:
            fields[button[0]] = button[1]
        action = urljoin(page.url, html.unescape(str(form.get("action") or page.url)))
        if (form.get("method") or "get").lower() == "post":
            return self.session.post(action, data=fields, timeout=30)
        return self.session.get(action, params=fields, timeout=30)


def form_of(page: requests.Response, form_id: str | None = None) -> Any:
    """Return the form called ``form_id`` (or the first form) of an HTML page."""
    document = lxml_html.fromstring(page.content)
    forms = document.xpath(f"//form[@id='{form_id}']" if form_id else "//form")
    if not forms:
        raise AssertionError(
            f"no form on the page ({page.status_code} {page.url}):\n{page.text[:2000]}"
        )
    return forms[0]


def hidden_value(page: requests.Response, name: str) -> str | None:
    """Return the value of the hidden input ``name`` on ``page``, if any."""
    document = lxml_html.fromstring(page.content)
    found = document.xpath(f"//input[@name='{name}']/@value")
    return str(found[0]) if found else None


@pytest.fixture
def browser() -> Browser:
    """Return a fresh browser (no cookies)."""
    return Browser()
