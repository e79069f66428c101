"""A bpmn folder holding only the rectification diagram and its forms (other diagrams may be mid-edit)."""
from __future__ import annotations

import shutil

import pytest

from engine.infra.config import DEFAULT_BPMN_DIR


@pytest.fixture
def bpmn_dir(tmp_path):
    folder = tmp_path / "bpmn"
    shutil.copytree(DEFAULT_BPMN_DIR / "forms", folder / "forms")
    shutil.copy(DEFAULT_BPMN_DIR / "hazard_rectification.bpmn", folder)
    return folder
