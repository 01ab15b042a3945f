"""The emulated AWS console sign-in: role picker, session page, AWS's error page."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from moto import mock_aws

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.yamlfile import load_yaml, validate
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.iam_view import moto_iam_client_factory
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.signin import INVALID_RESPONSE, create_signin_app
from sp_fixtures.aws.sts import StrictSts
from tests.sp_fixtures.aws.sts_cases import ADMIN, WORLD, Forge


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Forge]]:
    stranger = write_pair(generate_self_signed("stranger"), tmp_path_factory.mktemp("k"), "k")
    provider = IdentityProvider.from_file(WORLD)
    world = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
        )
        app = create_signin_app(StrictSts(provisioned.iam()))
        yield app.test_client(), Forge(provider, dt.datetime.now(dt.UTC), stranger)


def _forge(setup: tuple[FlaskClient, Forge]) -> Forge:
    client, forge = setup
    forge.now = dt.datetime.now(dt.UTC)
    return forge


def post(client: FlaskClient, saml_response: str, relay: str = "") -> tuple[int, str]:
    reply = client.post("/saml", data={"SAMLResponse": saml_response, "RelayState": relay})
    return reply.status_code, reply.get_data(as_text=True)


def full_response(forge: Forge, user: str = "alice") -> str:
    return base64.b64encode(forge.provider.issue(user, now=forge.now).xml).decode()


def test_role_picker_groups_roles_by_account(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    status, page = post(client, full_response(_forge(setup)), relay="https://console/home")
    assert status == 200
    assert "Select a role" in page
    assert 'id="account-111111111111"' in page and 'id="account-222222222222"' in page
    assert re.search(
        r'value="arn:aws:iam::111111111111:role/Admin\|arn:aws:iam::111111111111:'
        r'saml-provider/CorpIdP"\s+checked',
        page,
    )
    assert 'name="RelayState" value="https://console/home"' in page


def test_choosing_a_role_shows_the_session(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    saml_response = full_response(_forge(setup))
    reply = client.post(
        "/saml/choose",
        data={
            "SAMLResponse": saml_response,
            "role": f"{ADMIN}|arn:aws:iam::111111111111:saml-provider/CorpIdP",
        },
    )
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert "arn:aws:sts::111111111111:assumed-role/Admin/alice@corp.example" in page
    assert "export AWS_ACCESS_KEY_ID=ASIA" in page


def test_choosing_a_role_the_trust_policy_refuses(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    reply = client.post(
        "/saml/choose",
        data={
            "SAMLResponse": full_response(_forge(setup)),
            "role": "arn:aws:iam::111111111111:role/Untrusting|"
            "arn:aws:iam::111111111111:saml-provider/CorpIdP",
        },
    )
    assert reply.status_code == 403
    assert "Not authorized to perform sts:AssumeRoleWithSAML" in reply.get_data(as_text=True)


def test_user_without_roles_sees_aws_error_text(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    forge = _forge(setup)
    no_roles = forge.issue(
        attributes=lambda attrs: tuple(
            a for a in attrs if a.name != "https://aws.amazon.com/SAML/Attributes/Role"
        )
    )
    status, page = post(client, no_roles)
    assert status == 400
    assert INVALID_RESPONSE in page


@pytest.mark.parametrize(
    "saml_response",
    [
        "not base64 !!",
        base64.b64encode(b"<a>").decode(),
        base64.b64encode(b"<!DOCTYPE x><x/>").decode(),
    ],
    ids=["not-base64", "not-xml", "doctype"],
)
def test_garbage_gets_the_error_page(setup: tuple[FlaskClient, Forge], saml_response: str) -> None:
    client, _ = setup
    status, page = post(client, saml_response)
    assert status == 400
    assert INVALID_RESPONSE in page


def test_expired_response_gets_the_error_page(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    forge = _forge(setup)
    expired = forge.issue(
        confirmation_not_on_or_after=forge.now - dt.timedelta(minutes=1),
        not_on_or_after=forge.now - dt.timedelta(minutes=1),
    )
    status, page = post(client, expired)
    assert status == 400
    assert INVALID_RESPONSE in page and "ExpiredTokenException" in page


def test_tampered_response_gets_the_error_page(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    forge = _forge(setup)
    xml = forge.provider.issue("alice", now=forge.now).xml.replace(b"alice@corp", b"mallory@corp")
    status, page = post(client, base64.b64encode(xml).decode())
    assert status == 400
    assert "Response signature invalid" in page


def test_get_is_not_allowed(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    assert client.get("/saml").status_code == 405


def test_inspector_page_annotates_and_judges(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    reply = client.post("/inspect", data={"SAMLResponse": full_response(_forge(setup), "bob")})
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert "role/Developer via arn:aws:iam::222222222222:saml-provider/CorpIdP: accepted" in page
    assert "&lt;saml:Assertion" in page  # the XML, escaped


def test_inspector_page_refuses_garbage(setup: tuple[FlaskClient, Forge]) -> None:
    client, _ = setup
    reply = client.post("/inspect", data={"SAMLResponse": "%%%"})
    assert reply.status_code == 400
    assert "not a SAMLResponse" in reply.get_data(as_text=True)
