"""aws-adfs (from PyPI), unmodified, logging in through the IdP's ADFS mode to the strict STS.

aws-adfs pins an older cryptography than pysaml2 accepts, so it lives in ``.venv-aws-adfs``
(`scripts/dev test` creates it) and runs as a command. After login it POSTs the assertion to
https://signin.aws.amazon.com/saml to read account aliases; this machine reaches no such host,
so an HTTPS proxy in the test tunnels that request to the emulated sign-in, served over TLS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from scenarios.adfs_mode import SIGNON_PATH, WRONG_CREDENTIALS
from scenarios.demo import RunningDemo
from sp_fixtures.aws.iam_view import MotoIam
from sp_fixtures.aws.signin import create_signin_app
from sp_fixtures.aws.sts import StrictSts
from tests.conftest import ROOT

AWS_ADFS = ROOT / ".venv-aws-adfs" / "bin" / "aws-adfs"
ADMIN = "arn:aws:iam::111111111111:role/Admin"

pytestmark = pytest.mark.skipif(
    not AWS_ADFS.exists(),
    reason=f"aws-adfs is not installed in {AWS_ADFS.parent.parent} (`scripts/dev test` "
    "creates that virtualenv; it needs Debian's libkrb5-dev to build gssapi)",
)


@dataclass
class TunnelProxy:
    """An HTTPS proxy that tunnels every CONNECT to one local address, and notes the hosts."""

    target: tuple[str, int]
    listener: socket.socket = field(init=False)
    asked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.asked.append(request_line)
        if not request_line.startswith("CONNECT "):
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        upstream = socket.create_connection(self.target, timeout=30)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass
class AdfsWorld:
    """The demo (its ADFS mode and strict STS), a TLS sign-in and the proxy in front of it."""

    demo: RunningDemo
    proxy: TunnelProxy
    home: Path


@pytest.fixture(scope="module")
def adfs(demo: RunningDemo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdfsWorld]:
    signin: BaseWSGIServer = make_server(
        "127.0.0.1",
        0,
        create_signin_app(StrictSts(MotoIam())),
        threaded=True,
        ssl_context=(str(demo.tls_dir / "adfs-tls.crt"), str(demo.tls_dir / "adfs-tls.key")),
    )
    threading.Thread(target=signin.serve_forever, daemon=True).start()
    proxy = TunnelProxy(("127.0.0.1", int(signin.server_address[1])))
    try:
        yield AdfsWorld(demo, proxy, tmp_path_factory.mktemp("home"))
    finally:
        proxy.close()
        signin.shutdown()
        signin.server_close()


def aws_adfs_login(world: AdfsWorld, user: str, password: str) -> subprocess.CompletedProcess[str]:
    """Run `aws-adfs login --env --stdout` for ``user`` against the ADFS-mode IdP."""
    aws_dir = world.home / user / ".aws"
    aws_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(world.home / user),
        "AWS_CONFIG_FILE": str(aws_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
        "AWS_ENDPOINT_URL_STS": world.demo.sts.url,
        "HTTPS_PROXY": world.proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "username": user,
        "password": password,
    }
    return subprocess.run(
        [
            str(AWS_ADFS),
            "login",
            "--adfs-host",
            world.demo.adfs_host,
            "--no-ssl-verification",
            "--env",
            "--stdout",
            "--role-arn",
            ADMIN,
            "--no-session-cache",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_aws_adfs_gets_credentials_from_the_strict_sts(adfs: AdfsWorld) -> None:
    result = aws_adfs_login(adfs, "alice", "any-password")
    assert result.returncode == 0, result.stderr
    credentials = json.loads(result.stdout)
    caller = boto3.client(
        "sts",
        endpoint_url=adfs.demo.sts.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert caller["Arn"] == "arn:aws:sts::111111111111:assumed-role/Admin/alice@corp.example"
    assert any("signin.aws.amazon.com:443" in line for line in adfs.proxy.asked)


def test_aws_adfs_user_without_roles_is_refused(adfs: AdfsWorld) -> None:
    result = aws_adfs_login(adfs, "carol", "any-password")
    assert result.returncode != 0
    assert "This account does not have access to any roles" in result.stderr
    assert "SessionToken" not in result.stdout


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_adfs_signon_page_refuses_an_unknown_user(adfs: AdfsWorld) -> None:
    import requests

    page = requests.post(
        f"{adfs.demo.adfs.url}{SIGNON_PATH}?loginToRp=urn:amazon:webservices",
        data={"UserName": "CORP\\mallory", "Password": "x", "AuthMethod": "FormsAuthentication"},
        verify=False,  # noqa: S501 - the test's own self-signed certificate
        timeout=30,
    )
    assert page.status_code == 200
    assert f'<label id="errorText" for="userNameInput">{WRONG_CREDENTIALS}</label>' in page.text
    assert "SAMLResponse" not in page.text
