"""Fixtures of the card tests: the official schema validator and a writable template copy."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from include.cards import TEMPLATES_ROOT


@pytest.fixture(scope="module")
def official_validator():
    """The untouched official schema through the reference Python implementation."""
    schema = json.loads(resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text("utf-8"))
    return jsonschema.Draft6Validator(schema)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A writable copy of the real templates, for tests that break one."""
    shutil.copytree(TEMPLATES_ROOT, tmp_path / "templates")
    return tmp_path / "templates"
