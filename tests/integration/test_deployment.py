"""Deploying diagrams: versions, permissions, and behaviour that changes with the diagram alone."""
from __future__ import annotations

import pytest
from lxml import etree

from engine.infra.errors import InvalidDiagram, NotAllowed
from tests.admins import add_admin

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def _with_head_review(source: bytes) -> bytes:
    """The shipped diagram plus a 'department head review' task, in a new lane, between rectify and acceptance."""
    root = etree.fromstring(source)
    process = root.find(f"{BPMN}process")
    lane_set = process.find(f"{BPMN}laneSet")
    lane = etree.SubElement(lane_set, f"{BPMN}lane", id="lane_reviewer", name="inspector")
    etree.SubElement(lane, f"{BPMN}flowNodeRef").text = "head_review"
    flow = next(f for f in process.iter(f"{BPMN}sequenceFlow")
                if f.get("sourceRef") == "rectify" and f.get("targetRef") == "accept_rectification")
    flow.set("targetRef", "head_review")
    task = etree.SubElement(process, f"{BPMN}userTask", id="head_review", name="部门负责人复核")
    ext = etree.SubElement(task, f"{BPMN}extensionElements")
    props = etree.SubElement(ext, f"{SPIFF}properties")
    etree.SubElement(props, f"{SPIFF}property", name="stage", value="accept")
    etree.SubElement(props, f"{SPIFF}property", name="dueDuration", value="P1D")
    etree.SubElement(props, f"{SPIFF}property", name="candidateOrg", value="school_id")
    etree.SubElement(task, f"{BPMN}incoming").text = flow.get("id")
    etree.SubElement(task, f"{BPMN}outgoing").text = "flow_head_review_accept"
    for node in process.iter(f"{BPMN}userTask"):
        if node.get("id") == "accept_rectification":
            incoming = [i for i in node.findall(f"{BPMN}incoming") if i.text == flow.get("id")]
            for i in incoming:
                i.text = "flow_head_review_accept"
    etree.SubElement(process, f"{BPMN}sequenceFlow", id="flow_head_review_accept", sourceRef="head_review",
                     targetRef="accept_rectification")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_new_diagram_version_changes_what_new_hazards_go_through(services, world, report_hazard, do, open_tasks,
                                                                    bpmn_dir):
    old = report_hazard()
    source = _with_head_review((bpmn_dir / "hazard_rectification.bpmn").read_bytes())
    with pytest.raises(InvalidDiagram, match="needs an explicit replace") as refused:
        services.deploy_definition(source, "hazard_rectification.bpmn", world.users.designer)
    assert "1 instance(s) are running" in refused.value.message
    with pytest.raises(InvalidDiagram, match="only an administrator may replace"):
        services.deploy_definition(source, "hazard_rectification.bpmn", world.users.designer, replace=True)
    definition = services.deploy_definition(source, "hazard_rectification.bpmn", add_admin(services, world),
                                            replace=True)
    assert definition.version == 2 and definition.replaced
    assert definition.change_summary == "against v1: user tasks added: head_review (部门负责人复核); " \
                                        "5 other element(s) added, removed or changed"
    new = report_hazard()
    register = {"grade": "general", "responsible_person": "x", "deadline": "2026-11-20",
                "responsible_unit_id": world.orgs.college}
    plan = {"plan_owner": "x", "plan_measures": "y", "plan_deadline": "2026-11-20", "plan_contingency": "z"}
    for hazard in (old, new):
        do(hazard.id, "register_hazard", world.users.security, register)
        do(hazard.id, "rectification_plan", world.users.head, plan)
        do(hazard.id, "rectify", world.users.staff, {"measures": "m", "completion": "c"})
    assert [t.bpmn_id for t in open_tasks(old.id)] == ["accept_rectification"]  # old instances keep their version
    review = open_tasks(new.id)
    assert [(t.bpmn_id, t.candidate_role, t.stage) for t in review] == [("head_review", "inspector", "accept")]


def test_redeploying_an_unchanged_file_keeps_its_version(services, world, bpmn_dir):
    source = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    assert services.deploy_definition(source, "x.bpmn", world.users.designer).version == 1


def test_only_process_designers_may_deploy(services, world, bpmn_dir):
    source = _with_head_review((bpmn_dir / "hazard_rectification.bpmn").read_bytes())
    with pytest.raises(NotAllowed, match="process designer"):
        services.deploy_definition(source, "x.bpmn", world.users.staff)


def test_an_invalid_diagram_is_refused_and_nothing_is_deployed(services, world, bpmn_dir):
    source = (bpmn_dir / "hazard_rectification.bpmn").read_bytes().replace(b"closed = True", b"import os")
    with pytest.raises(InvalidDiagram, match="imports are not allowed"):
        services.deploy_definition(source, "evil.bpmn", world.users.designer)
    from engine.process import tasklist as queries

    with services.uow() as uow:
        assert [d.version for d in queries.definitions(uow.session) if d.key == "hazard_rectification"] == [1]
