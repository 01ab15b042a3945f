"""``idp.web.service_providers.NAME.post_to``: post elsewhere; the ACS stays the Recipient."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from idp.app import WebConfig, create_app
from scenarios.demo import DEFAULT_SCENARIO

LOCAL = "http://127.0.0.1:9/saml"
AWS_ACS = "https://signin.aws.amazon.com/saml"


@pytest.fixture
def scenario_with_post_to(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    certs = DEFAULT_SCENARIO.parent.parent.parent / "certs"
    data["idp"]["signing"]["key"] = str(certs / "sample-idp.key")
    data["idp"]["signing"]["cert"] = str(certs / "sample-idp.crt")
    data["idp"]["signing"].pop("next_key")
    data["idp"]["web"] = {"service_providers": {"aws": {"post_to": LOCAL}}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("preview", ["0", "1"], ids=["auto-post", "preview"])
def test_form_posts_to_post_to_and_assertion_keeps_the_acs(
    scenario_with_post_to: Path, preview: str
) -> None:
    client = create_app(WebConfig.from_file(scenario_with_post_to)).test_client()
    page = client.get(f"/sso/aws?user=alice&preview={preview}").get_data(as_text=True)
    assert f'action="{LOCAL}"' in page
    encoded = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
    assert encoded is not None
    response = base64.b64decode(encoded.group(1)).decode()
    assert f'Destination="{AWS_ACS}"' in response
    assert f'Recipient="{AWS_ACS}"' in response
    assert LOCAL not in response


def test_without_post_to_the_form_posts_to_the_acs() -> None:
    client = create_app(WebConfig.from_file(DEFAULT_SCENARIO)).test_client()
    page = client.get("/sso/aws?user=alice").get_data(as_text=True)
    assert f'action="{AWS_ACS}"' in page
