"""The AWS world of a scenario: schema, provisioning into moto, live apply/destroy, `aws` CLI."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from moto import mock_aws
from moto.server import ThreadedMotoServer

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.saml.sample_keys import (
    SAMPLE_CERT_SHA256,
    certificate_sha256,
    is_sample_certificate,
)
from idp.yamlfile import ConfigError, load_yaml, validate
from scenarios.cli_aws import aws
from sp_fixtures.aws.account import (
    AccountMismatchError,
    AwsWorld,
    InvalidMetadataError,
    InvalidScenarioNameError,
    MotoNotActiveError,
    ResourceConflictError,
    ResourceFileError,
    SampleKeyRefusedError,
    UnknownManagedPolicyError,
    default_trust_policy,
    managed_tags,
)
from sp_fixtures.aws.iam_view import LiveIam, MotoIam, moto_iam_client, moto_iam_client_factory
from sp_fixtures.aws.live import SANDBOX_WARNING, TAGS_UNREADABLE, apply, destroy
from sp_fixtures.aws.provision import ProvisionedWorld, provision
from tests.conftest import CERTS, DATA

AWS_DATA = DATA / "aws"
TWO_ACCOUNTS = AWS_DATA / "two-accounts.yaml"
ERROR_FILES = sorted((AWS_DATA / "errors").glob("*.yaml"))
MOTO_ACCOUNT = "123456789012"
TEST_POLICY = f"arn:aws:iam::{MOTO_ACCOUNT}:policy/fedharness-test"


def load_world(path: Path) -> AwsWorld:
    return validate(AwsWorld, load_yaml(path), at=("aws",))


def world_from(text: str, tmp_path: Path) -> AwsWorld:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return load_world(path)


# --- sample keys ----------------------------------------------------------------------------------


def test_sample_fingerprints_are_those_of_the_repository_certificates() -> None:
    shipped = {
        x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()
        for path in CERTS.glob("sample-*.crt")
    }
    assert len(shipped) >= 3
    assert shipped == SAMPLE_CERT_SHA256


def test_is_sample_certificate_reads_pem_and_metadata_base64() -> None:
    pem = (CERTS / "sample-idp.crt").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    wrapped = "\n  ".join(base64.b64encode(der).decode()[i : i + 64] for i in range(0, 1200, 64))
    assert is_sample_certificate(pem)
    assert is_sample_certificate(pem.decode())
    assert is_sample_certificate(wrapped)
    assert not is_sample_certificate(generate_self_signed(bits=2048).cert_pem)


def test_certificate_sha256_refuses_what_is_not_a_certificate() -> None:
    with pytest.raises(ValueError, match="not a PEM or base64 DER certificate"):
        certificate_sha256("not base64 at all!")


# --- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ERROR_FILES, ids=[p.stem for p in ERROR_FILES])
def test_schema_error_names_file_line_and_problem(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    line, fragment = expected.split(": ", 1)
    with pytest.raises(ConfigError) as caught:
        load_world(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_short_form_writes_the_consoles_default_trust_policy() -> None:
    world = load_world(TWO_ACCOUNTS)
    document = world.accounts["111111111111"].roles["Admin"].trust_policy_document("111111111111")
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::111111111111:saml-provider/CorpIdP"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            }
        ],
    }
    assert document == default_trust_policy("arn:aws:iam::111111111111:saml-provider/CorpIdP")


def test_long_form_merges_audiences_actions_and_conditions() -> None:
    role = load_world(TWO_ACCOUNTS).accounts["111111111111"].roles["Tagged"]
    [statement] = role.trust_policy_document("111111111111")["Statement"]
    assert statement["Action"] == [
        "sts:AssumeRoleWithSAML",
        "sts:TagSession",
        "sts:SetSourceIdentity",
    ]
    assert statement["Condition"] == {
        "StringEquals": {
            "SAML:aud": [
                "https://signin.aws.amazon.com/saml",
                "https://eu-west-1.signin.aws.amazon.com/saml",
            ],
            "SAML:iss": "https://idp.corp.example/saml",
        },
        "ForAnyValue:StringLike": {"SAML:edupersonaffiliation": ["staff"]},
    }


def test_empty_audiences_drop_the_condition() -> None:
    role = load_world(TWO_ACCOUNTS).accounts["111111111111"].roles["Partnered"]
    [statement] = role.trust_policy_document("111111111111")["Statement"]
    assert "Condition" not in statement


def test_cross_account_arn_to_an_undeclared_account_is_allowed() -> None:
    role = load_world(TWO_ACCOUNTS).accounts["222222222222"].roles["CrossAccount"]
    [statement] = role.trust_policy_document("222222222222")["Statement"]
    assert statement["Principal"] == {
        "Federated": "arn:aws:iam::333333333333:saml-provider/Elsewhere"
    }


def test_unquoted_policy_version_is_read_back_as_text() -> None:
    role = load_world(TWO_ACCOUNTS).accounts["111111111111"].roles["Admin"]
    assert role.inline_policies["s3-read"]["Version"] == "2012-10-17"


def test_json_schema_forbids_unknown_keys_and_describes_fields() -> None:
    schema = AwsWorld.model_json_schema()
    role = schema["$defs"]["RoleSpec"]
    assert role["additionalProperties"] is False
    assert "MaxSessionDuration" in role["properties"]["max_session_duration"]["description"]
    accounts = schema["properties"]["accounts"]
    assert list(accounts["patternProperties"]) == [r"^\d{12}$"]
    assert accounts["additionalProperties"] is False


@pytest.mark.parametrize("name", ["a#b", "", "x" * 257], ids=["hash", "empty", "too-long"])
def test_scenario_name_must_fit_in_a_tag_value(name: str) -> None:
    with pytest.raises(InvalidScenarioNameError):
        managed_tags(name)


# --- provisioning into moto in-process ------------------------------------------------------------


@pytest.fixture(scope="module")
def idp_metadata() -> bytes:
    return IdentityProvider.from_file(TWO_ACCOUNTS).metadata()


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def provisioned(moto: None, idp_metadata: bytes) -> ProvisionedWorld:
    return provision(
        load_world(TWO_ACCOUNTS),
        iam_client_factory=moto_iam_client_factory(),
        idp_metadata=idp_metadata,
        base_dir=AWS_DATA,
        scenario_name="two-accounts",
    )


def test_provision_lands_each_resource_in_its_own_account(provisioned: ProvisionedWorld) -> None:
    from moto.iam.models import iam_backends

    world = load_world(TWO_ACCOUNTS)
    assert list(provisioned.saml_providers) == world.provider_arns()
    assert list(provisioned.roles) == world.role_arns()
    assert set(iam_backends["111111111111"]["aws"].saml_providers) == {"CorpIdP", "Partner"}
    assert set(iam_backends["222222222222"]["aws"].saml_providers) == {"CorpIdP"}
    assert not iam_backends[MOTO_ACCOUNT]["aws"].roles


def test_moto_iam_reads_back_provider_metadata_and_extras(
    provisioned: ProvisionedWorld, idp_metadata: bytes
) -> None:
    view = provisioned.iam()
    corp = view.saml_provider("arn:aws:iam::222222222222:saml-provider/CorpIdP")
    partner = view.saml_provider("arn:aws:iam::111111111111:saml-provider/Partner")
    assert corp is not None and partner is not None
    assert corp.metadata == idp_metadata.decode()
    assert (corp.account_id, corp.encryption_mode, corp.private_keys) == ("222222222222", None, ())
    assert partner.metadata == (AWS_DATA / "partner-metadata.xml").read_text()
    assert partner.encryption_mode == "Required"
    assert partner.private_keys == ((CERTS / "sample-sp.key").read_bytes(),)
    assert partner.tags == {"fedharness:managed": "true", "fedharness:scenario": "two-accounts"}


@pytest.mark.parametrize(
    ("arn", "max_session_duration"),
    [
        ("arn:aws:iam::111111111111:role/Admin", 7200),
        ("arn:aws:iam::111111111111:role/federated/Tagged", 3600),
        ("arn:aws:iam::222222222222:role/Developer", 43200),
    ],
    ids=["Admin", "Tagged-with-path", "Developer"],
)
def test_moto_iam_reads_back_roles(
    provisioned: ProvisionedWorld, arn: str, max_session_duration: int
) -> None:
    world = load_world(TWO_ACCOUNTS)
    role = provisioned.iam().role(arn)
    assert role is not None
    spec = world.accounts[role.account_id].roles[role.name]
    assert role.max_session_duration == max_session_duration
    assert json.loads(role.trust_policy) == spec.trust_policy_document(role.account_id)
    assert role.role_id.startswith("AROA")
    assert role.tags["fedharness:scenario"] == "two-accounts"


def test_moto_iam_reads_back_attached_and_inline_policies(provisioned: ProvisionedWorld) -> None:
    role = provisioned.iam().role("arn:aws:iam::111111111111:role/Admin")
    assert role is not None
    assert role.managed_policies == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)
    assert json.loads(role.inline_policies["s3-read"])["Statement"][0]["Action"] == [
        "s3:GetObject",
        "s3:ListBucket",
    ]
    assert role.tags["owner"] == "platform"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::999999999999:role/Admin",
        "arn:aws:iam::111111111111:role/Nobody",
        "arn:aws:iam::111111111111:role/other/Admin",
        "arn:aws:iam::111111111111:saml-provider/Nobody",
        "arn:aws:iam::999999999999:saml-provider/CorpIdP",
        "not-an-arn",
    ],
    ids=["unseen-account", "no-role", "wrong-path", "no-provider", "provider-elsewhere", "junk"],
)
def test_moto_iam_returns_none_for_what_does_not_exist(
    provisioned: ProvisionedWorld, arn: str
) -> None:
    view = provisioned.iam()
    assert view.role(arn) is None and view.saml_provider(arn) is None


def test_moto_iam_does_not_create_accounts_it_is_asked_about(moto: None) -> None:
    from moto.iam.models import iam_backends

    assert MotoIam().role("arn:aws:iam::444444444444:role/X") is None
    assert "444444444444" not in iam_backends


def test_moto_client_refuses_outside_mock_aws() -> None:
    with pytest.raises(MotoNotActiveError):
        moto_iam_client("111111111111")


def test_moto_account_id_overriding_the_header_is_caught(
    moto: None, idp_metadata: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    with pytest.raises(AccountMismatchError, match="MOTO_ACCOUNT_ID"):
        provision(
            load_world(TWO_ACCOUNTS),
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=idp_metadata,
            base_dir=AWS_DATA,
        )


def test_unknown_aws_managed_policy_is_reported(
    moto: None, idp_metadata: bytes, tmp_path: Path
) -> None:
    world = world_from(
        """\
aws:
  accounts:
    "111111111111":
      saml_providers: {CorpIdP: {}}
      roles:
        Admin: {trusts: CorpIdP, policies: ["arn:aws:iam::aws:policy/NoSuchPolicy"]}
""",
        tmp_path,
    )
    with pytest.raises(UnknownManagedPolicyError, match="NoSuchPolicy"):
        provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=idp_metadata,
            base_dir=tmp_path,
        )


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, ResourceFileError, "cannot read metadata"),
        (b"\xef\xbb\xbf<md:EntityDescriptor/>", InvalidMetadataError, "byte-order mark"),
        (b"<not xml", InvalidMetadataError, "could not parse metadata"),
        (b"<html xmlns='http://www.w3.org/1999/xhtml'/>", InvalidMetadataError, "not md:Entity"),
    ],
    ids=["missing", "bom", "not-xml", "wrong-root"],
)
def test_metadata_files_are_checked_like_iam_does(
    moto: None,
    idp_metadata: bytes,
    tmp_path: Path,
    content: bytes | None,
    error: type[Exception],
    message: str,
) -> None:
    if content is not None:
        (tmp_path / "md.xml").write_bytes(content)
    world = world_from(
        """\
aws:
  accounts:
    "111111111111":
      saml_providers: {CorpIdP: {metadata: md.xml}}
""",
        tmp_path,
    )
    with pytest.raises(error, match=message):
        provision(
            world,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=idp_metadata,
            base_dir=tmp_path,
        )


# --- live mode against a moto server ------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    return moto_server


@pytest.fixture
def session() -> Any:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture
def iam(session: Any, endpoint: str) -> Any:
    client = session.client("iam", endpoint_url=endpoint)
    client.create_policy(
        PolicyName="fedharness-test",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
                ],
            }
        ),
    )
    return client


@pytest.fixture(scope="module")
def live_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("live")
    write_pair(generate_self_signed("fedharness live test IdP"), folder, "idp")
    shutil.copy(AWS_DATA / "live.yaml", folder / "live.yaml")
    return folder / "live.yaml"


def apply_live(path: Path, session: Any, endpoint: str, **overrides: Any) -> Any:
    provider = IdentityProvider.from_file(path)
    arguments: dict[str, Any] = {
        "scenario_name": "live-test",
        "idp_metadata": provider.metadata(),
        "base_dir": path.parent,
        "endpoint_url": endpoint,
        "signing_cert_fingerprints": [
            provider.current_key.certificate.fingerprint(hashes.SHA256()).hex()
        ],
    }
    return apply(load_world(path), session, **{**arguments, **overrides})


def role_names(iam: Any) -> set[str]:
    return {role["RoleName"] for role in iam.list_roles()["Roles"]}


def test_apply_creates_in_the_credentials_account_and_skips_the_others(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    result = apply_live(live_scenario, session, endpoint)
    assert result.account_id == MOTO_ACCOUNT
    assert result.created == (
        f"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP",
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/Admin",
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/federated/ReadOnly",
    )
    assert result.skipped_accounts == ("222222222222",)
    assert result.warnings == (SANDBOX_WARNING,)
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="Admin")["Tags"]}
    assert tags == {
        "owner": "platform",
        "fedharness:managed": "true",
        "fedharness:scenario": "live-test",
    }


def test_live_iam_reads_back_what_apply_made(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    apply_live(live_scenario, session, endpoint)
    view = LiveIam(session, endpoint_url=endpoint)
    role = view.role(f"arn:aws:iam::{MOTO_ACCOUNT}:role/Admin")
    provider = view.saml_provider(f"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP")
    assert role is not None and provider is not None
    assert role.max_session_duration == 7200
    assert json.loads(role.trust_policy) == default_trust_policy(
        f"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP"
    )
    assert role.managed_policies == (TEST_POLICY,)
    assert set(role.inline_policies) == {"s3-read"}
    assert provider.metadata == IdentityProvider.from_file(live_scenario).metadata().decode()
    assert provider.private_keys == ()
    assert view.role("arn:aws:iam::222222222222:role/Developer") is None


def test_apply_refuses_to_take_over_an_untagged_role_and_writes_nothing(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    iam.create_role(
        RoleName="ReadOnly",
        AssumeRolePolicyDocument=json.dumps(
            default_trust_policy("arn:aws:iam::123456789012:saml-provider/Someone")
        ),
    )
    with pytest.raises(ResourceConflictError, match="role ReadOnly exists and is not managed"):
        apply_live(live_scenario, session, endpoint)
    assert role_names(iam) == {"ReadOnly"}
    assert iam.list_saml_providers()["SAMLProviderList"] == []


def test_reapply_updates_roles_but_refuses_a_provider_moto_cannot_tag(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    apply_live(live_scenario, session, endpoint)
    with pytest.raises(ResourceConflictError, match="SAML provider CorpIdP exists and its tags"):
        apply_live(live_scenario, session, endpoint)


ROLE_ONLY = """\
aws:
  accounts:
    "123456789012":
      roles:
        Auditor:
          trusts: arn:aws:iam::222222222222:saml-provider/CorpIdP
          max_session_duration: {duration}
          policies: {policies}
          inline_policies: {inline}
"""


def test_reapply_brings_an_own_role_in_line_with_the_file(
    session: Any, endpoint: str, iam: Any, tmp_path: Path
) -> None:
    first = world_from(
        ROLE_ONLY.format(
            duration=3600,
            policies=f"[{TEST_POLICY}]",
            inline='{old: {Version: "2012-10-17", Statement: {Effect: Allow, Action: "s3:*", '
            'Resource: "*"}}}',
        ),
        tmp_path,
    )
    second = world_from(
        ROLE_ONLY.format(
            duration=14400,
            policies="[]",
            inline='{new: {Version: "2012-10-17", Statement: {Effect: Deny, Action: "iam:*", '
            'Resource: "*"}}}',
        ),
        tmp_path,
    )
    arguments: dict[str, Any] = {
        "scenario_name": "roles",
        "idp_metadata": b"",
        "base_dir": tmp_path,
        "signing_cert_fingerprints": [],
        "endpoint_url": endpoint,
    }
    assert apply(first, session, **arguments).created == (
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/Auditor",
    )

    result = apply(second, session, **arguments)

    assert (result.created, result.updated) == ((), (f"arn:aws:iam::{MOTO_ACCOUNT}:role/Auditor",))
    role = LiveIam(session, endpoint_url=endpoint).role(f"arn:aws:iam::{MOTO_ACCOUNT}:role/Auditor")
    assert role is not None
    assert role.max_session_duration == 14400
    assert role.managed_policies == ()
    assert set(role.inline_policies) == {"new"}


def test_destroy_removes_only_this_scenarios_tagged_resources(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    trust = json.dumps(default_trust_policy("arn:aws:iam::123456789012:saml-provider/CorpIdP"))
    iam.create_role(RoleName="Manual", AssumeRolePolicyDocument=trust)
    iam.create_role(
        RoleName="OtherScenario",
        AssumeRolePolicyDocument=trust,
        Tags=[
            {"Key": "fedharness:managed", "Value": "true"},
            {"Key": "fedharness:scenario", "Value": "other"},
        ],
    )
    metadata = IdentityProvider.from_file(live_scenario).metadata().decode()
    iam.create_saml_provider(Name="Unrelated", SAMLMetadataDocument=metadata)
    apply_live(live_scenario, session, endpoint)

    result = destroy(
        load_world(live_scenario), session, scenario_name="live-test", endpoint_url=endpoint
    )

    assert set(result.removed) == {
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/Admin",
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/federated/ReadOnly",
    }
    assert [(k.arn, k.reason) for k in result.kept] == [
        (f"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP", TAGS_UNREADABLE)
    ]
    assert role_names(iam) == {"Manual", "OtherScenario"}
    assert iam.get_policy(PolicyArn=TEST_POLICY)["Policy"]["AttachmentCount"] == 0
    assert len(iam.list_saml_providers()["SAMLProviderList"]) == 2


def test_apply_refuses_a_sample_signing_certificate(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    with pytest.raises(SampleKeyRefusedError, match="sample certificate"):
        apply_live(
            live_scenario,
            session,
            endpoint,
            signing_cert_fingerprints=[sorted(SAMPLE_CERT_SHA256)[0].upper()],
        )
    assert role_names(iam) == set()


def test_apply_refuses_metadata_that_trusts_a_sample_certificate(
    live_scenario: Path, session: Any, endpoint: str, iam: Any
) -> None:
    own_metadata = IdentityProvider.from_file(live_scenario).metadata()
    with pytest.raises(SampleKeyRefusedError, match="saml-provider/Partner"):
        apply(
            load_world(TWO_ACCOUNTS),
            session,
            scenario_name="two-accounts",
            idp_metadata=own_metadata,
            base_dir=AWS_DATA,
            signing_cert_fingerprints=[],
            endpoint_url=endpoint,
        )
    assert role_names(iam) == set()


def test_apply_refuses_an_account_the_scenario_does_not_declare(
    session: Any, endpoint: str, tmp_path: Path
) -> None:
    world = world_from('aws: {accounts: {"111111111111": {}}}\n', tmp_path)
    with pytest.raises(AccountMismatchError, match="account 123456789012"):
        apply(
            world,
            session,
            scenario_name="x",
            idp_metadata=b"",
            base_dir=tmp_path,
            signing_cert_fingerprints=[],
            endpoint_url=endpoint,
        )


# --- `fedharness aws apply|destroy` ---------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def run_aws(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(aws, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_apply_then_destroy(
    aws_env: None, live_scenario: Path, endpoint: str, iam: Any
) -> None:
    code, out, err = run_aws("apply", str(live_scenario), "--endpoint-url", endpoint)
    assert code == 0, err
    assert f"created arn:aws:iam::{MOTO_ACCOUNT}:role/Admin" in out
    assert "skipped account 222222222222" in out
    assert "warning: Roles that trust a mock IdP" in err

    code, out, err = run_aws("destroy", str(live_scenario), "--endpoint-url", endpoint)
    assert code == 0, err
    assert f"removed arn:aws:iam::{MOTO_ACCOUNT}:role/federated/ReadOnly" in out
    assert f"kept arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP" in out
    assert role_names(iam) == set()


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (TWO_ACCOUNTS, "sample certificate"),
        (AWS_DATA / "errors" / "unknown-field.yaml", "unknown-field.yaml:8: "),
        (AWS_DATA / "missing.yaml", "missing.yaml: cannot read"),
    ],
    ids=["sample-keys", "schema-error", "missing-file"],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    aws_env: None, endpoint: str, scenario: Path, message: str
) -> None:
    code, out, err = run_aws("apply", str(scenario), "--endpoint-url", endpoint)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and out == ""


def test_cli_destroy_in_an_undeclared_account_is_refused(aws_env: None, endpoint: str) -> None:
    code, _, err = run_aws("destroy", str(TWO_ACCOUNTS), "--endpoint-url", endpoint)
    assert code == 2
    assert "credentials are for account 123456789012" in err


def test_apply_says_a_scenario_uuid_is_not_used_live(
    live_scenario: Path, session: Any, endpoint: str, iam: Any, tmp_path: Path
) -> None:
    text = live_scenario.read_text().replace(
        "CorpIdP: {tags: {team: identity}}",
        "CorpIdP: {tags: {team: identity}, uuid: SAMLSP4SHN3UIS2D558H46}",
        1,
    )
    assert "SAMLSP4SHN3UIS2D558H46" in text
    scenario = live_scenario.parent / "live-uuid.yaml"
    scenario.write_text(text)
    result = apply_live(scenario, session, endpoint)
    (warning,) = [w for w in result.warnings if "SAMLProviderUUID" in w]
    assert f"arn:aws:iam::{MOTO_ACCOUNT}:saml-provider/CorpIdP" in warning
    assert "uuid SAMLSP4SHN3UIS2D558H46 is ignored live" in warning
