"""The strict-STS rule world (``tests/data/sts/world.yaml``) provisioned in moto and served by
``sts serve``'s app on a free 127.0.0.1 port, for the tests that need a real server."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from moto import mock_aws

from idp.certs import generate_self_signed, write_pair
from idp.provider import IdentityProvider
from idp.yamlfile import load_yaml, validate
from sp_fixtures.aws.account import AwsWorld
from sp_fixtures.aws.iam_view import MotoIam, moto_iam_client_factory
from sp_fixtures.aws.provision import provision
from sp_fixtures.aws.server import RunningServer, StrictStsApp, serve_in_thread
from sp_fixtures.aws.sts import StrictSts
from tests.sp_fixtures.aws.sts_cases import WORLD, Forge


@dataclass
class ServedWorld:
    provider: IdentityProvider
    sts: StrictSts
    app: StrictStsApp
    server: RunningServer
    stranger: tuple[Path, Path]
    """A key pair that no SAML provider's metadata lists."""

    def forge(self) -> Forge:
        return Forge(self.provider, dt.datetime.now(dt.UTC), self.stranger)


@contextlib.contextmanager
def served_world(keys_dir: Path, scenario_name: str) -> Iterator[ServedWorld]:
    """Provision the rule world in moto and serve it until the block ends."""
    stranger = write_pair(generate_self_signed("not in any metadata"), keys_dir, "stranger")
    provider = IdentityProvider.from_file(WORLD)
    aws = validate(AwsWorld, load_yaml(WORLD), at=("aws",))
    with mock_aws():
        provisioned = provision(
            aws,
            iam_client_factory=moto_iam_client_factory(),
            idp_metadata=provider.metadata(),
            base_dir=WORLD.parent,
            scenario_name=scenario_name,
        )
        sts = StrictSts(MotoIam(provisioned.extras))
        app = StrictStsApp(sts)
        server = serve_in_thread(app)
        try:
            yield ServedWorld(provider, sts, app, server, stranger)
        finally:
            server.stop()
