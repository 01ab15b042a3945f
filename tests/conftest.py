"""Shared fixtures: the repository's sample keys and a fixed clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from idp.saml.keys import KeyPair, load_key_pair

ROOT = Path(__file__).resolve().parent.parent
CERTS = ROOT / "certs"
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ROOT / "scenarios" / "examples"


@pytest.fixture(scope="session")
def idp_key() -> KeyPair:
    return load_key_pair(CERTS / "sample-idp.key", CERTS / "sample-idp.crt")


@pytest.fixture(scope="session")
def idp_next_key() -> KeyPair:
    return load_key_pair(CERTS / "sample-idp-next.key", CERTS / "sample-idp-next.crt")


@pytest.fixture(scope="session")
def sp_key() -> KeyPair:
    return load_key_pair(CERTS / "sample-sp.key", CERTS / "sample-sp.crt")


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=dt.UTC)
