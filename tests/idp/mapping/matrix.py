"""The fixture-matrix files of tests/data/mappings as pytest params, and how a case is run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _pytest.mark.structures import ParameterSet

from idp.directory import Directory, DirectoryConfig
from idp.mapping.base import MappingInput, MappingResult
from idp.mapping.lint import ENGINES
from tests.conftest import DATA


def matrix(file: str) -> list[ParameterSet]:
    """Return one pytest param per case of a fixture-matrix file, named set/user."""
    sets = yaml.safe_load((DATA / "mappings" / file).read_text(encoding="utf-8"))
    return [
        pytest.param(s, case, id=f"{s['name']}/{case['user']}") for s in sets for case in s["cases"]
    ]


def run_case(matrix_set: dict[str, Any], case: dict[str, Any]) -> MappingResult:
    """Run a matrix case's engine for its directory user."""
    config_model, engine_class = ENGINES[matrix_set["engine"]]
    engine = engine_class(config_model.model_validate(matrix_set["config"]))
    directory = Directory.from_config(
        DirectoryConfig.model_validate(matrix_set["directory"]), Path()
    )
    user = case["user"]
    return engine.map(
        MappingInput(
            directory.user(user), directory.groups_of(user), directory.direct_groups_of(user)
        )
    )
