"""Every diagram in bpmn/ validates; unsafe or malformed diagrams are refused with a clear error."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.errors import InvalidDiagram
from engine.org.models import ROLES
from engine.process.diagrams import parse_diagram

DIAGRAMS = sorted(DEFAULT_BPMN_DIR.glob("*.bpmn"))
SOURCE = (DEFAULT_BPMN_DIR / "hazard_rectification.bpmn").read_bytes()


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_shipped_diagram_validates(path: Path):
    parsed = parse_diagram(path.read_bytes(), DEFAULT_BPMN_DIR, path.name)
    assert parsed.task_meta
    for meta in parsed.task_meta.values():
        assert meta["lane"] in ROLES, meta
        assert meta["form"] in parsed.forms, f"{meta['bpmn_id']} has no form"
        assert meta["stage"], f"{meta['bpmn_id']} has no stage"


def test_the_rectification_diagram_has_the_closed_loop_tasks():
    parsed = parse_diagram(SOURCE, DEFAULT_BPMN_DIR, "hazard_rectification.bpmn")
    assert set(parsed.task_meta) == {
        "register_hazard", "review_major_report", "onsite_fix", "rectification_plan", "rectify", "explain_overdue",
        "accept_rectification", "approve_closure", "close_hazard"}
    assert parsed.task_meta["accept_rectification"]["exclude_performers_of"] == ["rectify", "onsite_fix"]
    assert parsed.start_form == "forms/report_hazard.json"


@pytest.mark.parametrize("bad, message", [
    (b"closed = True", "imports are not allowed"),
])
def test_a_script_that_imports_is_refused(bad, message):
    with pytest.raises(InvalidDiagram, match=message):
        parse_diagram(SOURCE.replace(bad, b"import os"), DEFAULT_BPMN_DIR, "evil.bpmn")


def test_a_condition_reaching_for_dunders_is_refused():
    evil = SOURCE.replace(b'grade == "major"', b"grade.__class__", 1)
    with pytest.raises(InvalidDiagram, match="__class__"):
        parse_diagram(evil, DEFAULT_BPMN_DIR, "evil.bpmn")


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</definitions>').encode()
    with pytest.raises(InvalidDiagram, match="DOCTYPE") as caught:
        parse_diagram(xxe, DEFAULT_BPMN_DIR, "xxe.bpmn")
    assert "TOP SECRET" not in caught.value.message


def test_xsd_violations_are_reported():
    broken = SOURCE.replace(b"<bpmn:userTask ", b"<bpmn:userTaskz ", 1)
    with pytest.raises(InvalidDiagram):
        parse_diagram(broken, DEFAULT_BPMN_DIR, "broken.bpmn")


def test_a_lane_that_names_no_role_is_refused():
    broken = SOURCE.replace(b'name="security_office"', b'name="janitors"', 1)
    with pytest.raises(InvalidDiagram, match="'janitors' .* is not a role"):
        parse_diagram(broken, DEFAULT_BPMN_DIR, "lanes.bpmn")


def test_a_missing_form_is_refused():
    broken = SOURCE.replace(b"forms/rectify.json", b"forms/nope.json")
    with pytest.raises(InvalidDiagram, match="forms/nope.json.* is not in the bundle"):
        parse_diagram(broken, DEFAULT_BPMN_DIR, "forms.bpmn")


def test_a_form_outside_the_diagram_folder_is_refused():
    broken = SOURCE.replace(b"forms/rectify.json", b"../../etc/passwd")
    with pytest.raises(InvalidDiagram, match="'../../etc/passwd' is not in the bundle") as caught:
        parse_diagram(broken, DEFAULT_BPMN_DIR, "forms.bpmn")
    assert "root:" not in caught.value.message
