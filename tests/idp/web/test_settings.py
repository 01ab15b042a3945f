"""``idp.web`` settings, SP metadata, and the app's state: errors name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idp.app import WebConfig, create_app
from idp.errors import IdpError
from idp.views.directory_state import DirectoryState
from idp.yamlfile import SchemaError
from tests.conftest import CERTS
from tests.idp.saml.independent import needs_xmlsec1


def write(tmp_path: Path, web: str, service_providers: str = "") -> Path:
    path = tmp_path / "idp.yaml"
    path.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  service_providers:
    aws: {{}}
{service_providers}  web:
{web}
directory:
  users:
    alice: {{email: alice@corp.example, groups: [one]}}
""")
    return path


@needs_xmlsec1
def test_sp_metadata_gives_entity_id_certificates_acs_and_slo(tmp_path: Path) -> None:
    from tests.idp.web.pysaml2_sp import sp_metadata

    (tmp_path / "sp.xml").write_bytes(
        sp_metadata("meta-sp", "http://sp.example", sign_requests=True)
    )
    path = write(
        tmp_path,
        "    service_providers:\n      partner: {metadata: sp.xml}",
        "    partner: {acs: 'http://sp.example/meta-sp/acs'}\n",
    )
    trust = WebConfig.from_file(path).trust
    assert trust is not None
    partner = trust["partner"]
    assert partner.entity_id == "http://meta-sp.test/metadata"
    assert partner.want_requests_signed is True
    assert partner.certificates and partner.certificates[0].startswith(b"-----BEGIN CERT")
    assert partner.acs_urls == ("http://sp.example/meta-sp/acs",)
    assert (partner.slo_url, partner.slo_binding) == ("http://sp.example/meta-sp/slo", "redirect")
    assert trust["aws"].want_requests_signed is False


@pytest.mark.parametrize(
    ("web", "service_providers", "message"),
    [
        (
            "    prevue: false",
            "",
            r"idp.yaml:\d+: idp.web: unknown field 'prevue'; did you mean "
            "'preview'",
        ),
        (
            "    request_max_age: 0",
            "",
            r"idp.yaml:\d+: idp.web.request_max_age: Input should be "
            "greater than 0",
        ),
        (
            "    service_providers:\n      ghost: {}",
            "",
            r"idp.yaml:\d+: idp.web.service_providers.ghost: "
            r"no service provider 'ghost' is registered",
        ),
    ],
    ids=["unknown-field", "bad-value", "unregistered-sp"],
)
def test_bad_web_settings_name_the_line(
    tmp_path: Path, web: str, service_providers: str, message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        WebConfig.from_file(write(tmp_path, web, service_providers))


def test_signed_requests_without_a_certificate_are_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "    service_providers:\n      aws: {want_authn_requests_signed: true}")
    with pytest.raises(IdpError, match="must sign its requests but no certificate"):
        WebConfig.from_file(path)


def test_missing_metadata_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "    service_providers:\n      aws: {metadata: nowhere.xml}")
    with pytest.raises(IdpError, match="nowhere.xml: cannot read SP metadata"):
        WebConfig.from_file(path)


def test_apps_do_not_share_state(tmp_path: Path) -> None:
    config = WebConfig.from_file(write(tmp_path, "    preview: true"))
    first, second = create_app(config).test_client(), create_app(config).test_client()
    assert first.put("/api/users/alice/groups", json={"groups": ["two"]}).status_code == 200
    assert first.get("/api/users").json["users"][0]["groups"] == ["two"]
    assert second.get("/api/users").json["users"][0]["groups"] == ["one"]


def test_group_changes_are_shared_between_worker_processes(tmp_path: Path) -> None:
    provider = WebConfig.from_file(write(tmp_path, "    preview: true")).provider
    shared = tmp_path / "groups.json"
    one, other = (DirectoryState(provider, shared_file=shared) for _ in range(2))
    one.set_groups("alice", ["two", "three"])
    assert other.provider().directory.user("alice").direct_groups == ("two", "three")
    assert json.loads(shared.read_text()) == {"changes": {"alice": ["two", "three"]}}
    other.reset()
    assert one.provider().directory.user("alice").direct_groups == ("one",)
    assert provider.directory.user("alice").direct_groups == ("one",), "base never changes"
