"""Deployment bundles: DMN decisions that run, collaborations, call activities to deployed callees, stored files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.infra.errors import InvalidDiagram, NotAllowed
from engine.process import deployments
from engine.process.bundles import Bundle
from engine.process.models import Deployment, HumanTask, ProcessDefinition, ProcessInstance

FOREIGN = Path(__file__).resolve().parents[2].parent / "shared" / "foreign-bpmn"
PRICES_DMN = FOREIGN / "spiff-example-cli" / "tutorial" / "product_prices.dmn"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{pid}" targetNamespace="http://example.org/{pid}">
"""


def _props(**props) -> str:
    if not props:
        return ""
    inner = "".join(f'<spiffworkflow:property name="{k}" value="{v}" />' for k, v in props.items())
    return (f"<bpmn:extensionElements><spiffworkflow:properties>{inner}</spiffworkflow:properties>"
            "</bpmn:extensionElements>")


def process(pid: str, middle: str, tasks: list[str], start: str = "", name: str | None = None,
            lane_tasks: list[str] | None = None, lane: str = "security_office", end: str = "") -> str:
    """A straight line start -> middle element(s) `tasks` -> end, user tasks in one lane."""
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in (lane_tasks or []))
    lanes = f'<bpmn:laneSet id="ls_{pid}"><bpmn:lane id="lane_{pid}" name="{lane}">{refs}</bpmn:lane></bpmn:laneSet>' \
        if lane_tasks else ""
    chain = [f"{pid}_start", *tasks, f"{pid}_end"]
    flows = "".join(f'<bpmn:sequenceFlow id="f_{pid}_{i}" sourceRef="{a}" targetRef="{b}" />'
                    for i, (a, b) in enumerate(zip(chain, chain[1:])))
    return (f'<bpmn:process id="{pid}" name="{name or pid}" isExecutable="true">{lanes}'
            f'<bpmn:startEvent id="{pid}_start">{start}</bpmn:startEvent>{middle}'
            f'<bpmn:endEvent id="{pid}_end">{end}</bpmn:endEvent>{flows}'
            "</bpmn:process>")


def diagram(pid: str, *processes: str, extra: str = "") -> bytes:
    return (HEAD.format(pid=pid) + extra + "".join(processes) + "</bpmn:definitions>").encode("utf-8")


def user_task(tid: str, name: str, **props) -> str:
    return f'<bpmn:userTask id="{tid}" name="{name}">{_props(**props)}</bpmn:userTask>'


ORDER_FORM = {"type": "object", "required": ["product_name"],
              "properties": {"product_name": {"type": "string", "enum": ["product_a", "product_c", "product_f"]}}}


def pricing_diagram(decision_attr: str) -> bytes:
    """Start form (product) -> business rule task (product_prices) -> a confirmation by the security office."""
    rule = (f'<bpmn:businessRuleTask id="lookup" name="查价格" {decision_attr}>'
            + ("" if "camunda" in decision_attr else
               '<bpmn:extensionElements><spiffworkflow:calledDecisionId>product_prices</spiffworkflow:calledDecisionId>'
               '</bpmn:extensionElements>')
            + "</bpmn:businessRuleTask>")
    return diagram("pricing", process(
        "pricing", rule + user_task("confirm", "确认价格"), ["lookup", "confirm"],
        start=_props(formJsonSchemaFilename="forms/order.json"), lane_tasks=["confirm"]))


@pytest.fixture
def prices_dmn() -> bytes:
    if not PRICES_DMN.is_file():
        pytest.skip(f"FOREIGN DIAGRAMS ABSENT: {PRICES_DMN} not found; the DMN bundle test did not run")
    return PRICES_DMN.read_bytes()


def _bundle(**files) -> Bundle:
    bundle = Bundle()
    for name, content in files.items():
        bundle.add(name.replace("__", "/"), content if isinstance(content, bytes) else json.dumps(content).encode())
    return bundle


def _data_of_open_task(services, instance_id: int) -> dict:
    with services.uow() as uow:
        instance = uow.session.get(ProcessInstance, instance_id)
        workflow = services.runtime.load(instance.definition, instance.state_json)
        [task] = services.runtime.ready_user_tasks(workflow)
        return dict(task.data)


@pytest.mark.parametrize("decision_attr", ["", 'camunda:decisionRef="product_prices"'], ids=["spiff", "camunda"])
def test_a_bundle_with_a_decision_table_deploys_and_its_business_rule_task_decides(services, world, prices_dmn,
                                                                                 decision_attr):
    bundle = _bundle(**{"pricing.bpmn": pricing_diagram(decision_attr), "product_prices.dmn": prices_dmn,
                        "forms__order.json": ORDER_FORM})
    [definition] = services.deploy_bundle(bundle, world.users.designer)
    assert (definition.key, definition.version, definition.filename) == ("pricing", 1, "pricing.bpmn")
    assert definition.forms["__start__"] == "forms/order.json"
    for product, price in (("product_c", 25), ("product_f", 30), ("product_a", 15)):
        instance = services.start_process("pricing", world.users.designer, {"product_name": product})
        assert _data_of_open_task(services, instance.id)["product_price"] == price
    with pytest.raises(Exception, match="product_name"):
        services.start_process("pricing", world.users.designer, {"product_name": "nope"})


def test_a_business_rule_task_naming_a_missing_decision_is_refused(services, world, prices_dmn):
    source = pricing_diagram("").replace(b">product_prices<", b">no_such_table<")
    bundle = _bundle(**{"pricing.bpmn": source, "product_prices.dmn": prices_dmn, "forms__order.json": ORDER_FORM})
    with pytest.raises(InvalidDiagram, match="no_such_table"):
        services.deploy_bundle(bundle, world.users.designer)
    report = services.validate_bundle(bundle, world.users.designer)
    assert report.errors and not report.diagrams
    assert any("no_such_table" in f.message for f in report.errors)


def test_a_changed_decision_table_makes_a_new_version_and_an_unchanged_bundle_does_not(services, world, prices_dmn):
    files = {"pricing.bpmn": pricing_diagram(""), "product_prices.dmn": prices_dmn, "forms__order.json": ORDER_FORM}
    assert services.deploy_bundle(_bundle(**files), world.users.designer)[0].version == 1
    assert services.deploy_bundle(_bundle(**files), world.users.designer)[0].version == 1
    files["product_prices.dmn"] = prices_dmn.replace(b"<text>25.00</text>", b"<text>26.00</text>", 1)
    definition = services.deploy_bundle(_bundle(**files), world.users.designer)[0]
    assert definition.version == 2
    instance = services.start_process("pricing", world.users.designer, {"product_name": "product_c"})
    assert _data_of_open_task(services, instance.id)["product_price"] == 26
    with services.uow() as uow:
        assert len(uow.session.scalars(select(Deployment)).all()) == 2 + 1  # the shipped bpmn/ folder is one too


COLLABORATION = f"""<bpmn:collaboration id="collab">
  <bpmn:participant id="p_order" name="下单" processRef="order_pool" />
  <bpmn:participant id="p_ship" name="发货" processRef="ship_pool" />
  <bpmn:messageFlow id="mf" sourceRef="send_order" targetRef="p_ship" />
</bpmn:collaboration>
<bpmn:message id="msg_order" name="order_placed" />
{process("order_pool", user_task("place", "下单"), ["place"], lane_tasks=["place"],
         end='<bpmn:messageEventDefinition id="med_send" messageRef="msg_order"><bpmn:extensionElements>'
             '<spiffworkflow:messagePayload>{"item": item, "school_id": school_id}</spiffworkflow:messagePayload>'
             '</bpmn:extensionElements></bpmn:messageEventDefinition>')}
{process("ship_pool", user_task("ship", "发货"), ["ship"], lane_tasks=["ship"], lane="leader",
         start='<bpmn:messageEventDefinition id="med" messageRef="msg_order" />')}
"""


def test_a_collaboration_deploys_each_executable_pool(services, world):
    source = diagram("collab", extra=COLLABORATION)
    bundle = _bundle(**{"collab.bpmn": source})
    definitions = services.deploy_bundle(bundle, world.users.designer)
    assert [(d.key, d.name, d.version, d.filename) for d in definitions] == [
        ("order_pool", "order_pool", 1, "collab.bpmn"), ("ship_pool", "ship_pool", 1, "collab.bpmn")]
    assert definitions[0].deployment_id == definitions[1].deployment_id
    instance = services.start_process("order_pool", world.users.designer, {})
    with services.uow() as uow:
        [task] = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
        assert (task.bpmn_id, task.candidate_role) == ("place", "security_office")
    services.complete_task(task.id, world.users.security, {"item": "灭火器"})  # the end event sends the message
    with services.uow() as uow:
        s = uow.session
        [shipping] = s.scalars(select(ProcessInstance).join(ProcessDefinition)
                               .where(ProcessDefinition.key == "ship_pool")).all()
        [ship] = s.scalars(select(HumanTask).where(HumanTask.instance_id == shipping.id)).all()
        assert (ship.bpmn_id, ship.candidate_role, ship.candidate_org_id) == ("ship", "leader", world.orgs.school)
    assert _data_of_open_task(services, shipping.id)["item"] == "灭火器"
    # Each pool's own properties are read from the shared file (deadlines.process_properties is by process id).
    assert services.validate_bundle(bundle, world.users.designer).diagrams[1].process_id == "ship_pool"


def callee(version_note: str = "") -> bytes:
    """A process another one calls: a script sets `approved_by`, then the security office reviews."""
    script = f'<bpmn:scriptTask id="mark" name="标记"><bpmn:script>approved_by = "callee{version_note}"</bpmn:script>' \
             "</bpmn:scriptTask>"
    return diagram("review", process("review", script + user_task("review_it", "复核", formJsonSchemaFilename="r.json"),
                                     ["mark", "review_it"], lane_tasks=["review_it"]))


REVIEW_FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def caller(pin: str | None = None) -> bytes:
    props = _props(calledVersion=pin) if pin else ""
    call = f'<bpmn:callActivity id="call_review" name="调用复核" calledElement="review">{props}</bpmn:callActivity>'
    after = '<bpmn:scriptTask id="after" name="收尾"><bpmn:script>done = approved_by</bpmn:script></bpmn:scriptTask>'
    return diagram("main", process("main", call + after + user_task("finish", "结束"), ["call_review", "after", "finish"],
                                   lane_tasks=["finish"]))


def test_a_call_activity_runs_the_separately_deployed_callee(services, world):
    with pytest.raises(InvalidDiagram, match="'review' is neither in the bundle nor deployed"):
        services.deploy_bundle(_bundle(**{"main.bpmn": caller()}), world.users.designer)
    services.deploy_bundle(_bundle(**{"review.bpmn": callee(), "r.json": REVIEW_FORM}), world.users.designer)
    [main] = services.deploy_bundle(_bundle(**{"main.bpmn": caller()}), world.users.designer)
    assert main.callees == {"review": 1}
    assert main.task_meta["review_it"]["form"] == "r.json" and "r.json" in main.forms  # the callee's form came along
    instance = services.start_process("main", world.users.designer, {})
    with services.uow() as uow:
        [task] = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
        assert (task.bpmn_id, task.candidate_role, task.form) == ("review_it", "security_office", "r.json")
    services.complete_task(task.id, world.users.security, {"ok": True})
    assert _data_of_open_task(services, instance.id)["done"] == "callee"


def test_a_call_activity_pinned_by_called_version_keeps_that_version(services, world):
    services.deploy_bundle(_bundle(**{"review.bpmn": callee(), "r.json": REVIEW_FORM}), world.users.designer)
    services.deploy_bundle(_bundle(**{"review.bpmn": callee(" v2"), "r.json": REVIEW_FORM}), world.users.designer)
    [pinned] = services.deploy_bundle(_bundle(**{"main.bpmn": caller("1")}), world.users.designer)
    assert pinned.callees == {"review": 1}
    instance = services.start_process("main", world.users.designer, {})
    with services.uow() as uow:
        [task] = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    services.complete_task(task.id, world.users.security, {})
    assert _data_of_open_task(services, instance.id)["done"] == "callee"
    # main has a running instance now: a new version needs the operator's (or an administrator's) replace.
    [latest] = services.deploy_bundle(_bundle(**{"main.bpmn": caller()}), None, replace=True)
    assert (latest.version, latest.callees) == (2, {"review": 2})
    with pytest.raises(InvalidDiagram, match="version 7 of process 'review'"):
        services.deploy_bundle(_bundle(**{"main.bpmn": caller("7")}), world.users.designer)


def test_every_version_keeps_its_files(services, world, prices_dmn):
    files = {"pricing.bpmn": pricing_diagram(""), "product_prices.dmn": prices_dmn, "forms__order.json": ORDER_FORM}
    [definition] = services.deploy_bundle(_bundle(**files), world.users.designer)
    with services.uow() as uow:
        s = uow.session
        listed = deployments.file_list(s, definition.id)
        assert [f["name"] for f in listed] == ["pricing.bpmn", "product_prices.dmn", "forms/order.json"]
        assert deployments.file_content(s, definition.id, "product_prices.dmn") == prices_dmn
        shipped = services.latest_definition(s, "hazard_rectification")
        assert "forms/rectify.json" in {f["name"] for f in deployments.file_list(s, shipped.id)}
        deployment = s.get(Deployment, definition.deployment_id)
        assert deployment.summary == "deployed pricing v1 (new)" and deployment.deployed_by_id == world.users.designer


def test_a_role_map_maps_foreign_lanes_and_is_kept_with_the_deployment(services, world):
    source = diagram("foreign", process("foreign", user_task("check", "检查"), ["check"], lane_tasks=["check"],
                                        lane="Reviewers"))
    with pytest.raises(InvalidDiagram, match="'Reviewers'.*is not a role"):
        services.deploy_bundle(_bundle(**{"f.bpmn": source}), world.users.designer)
    with pytest.raises(InvalidDiagram, match="not a role"):
        services.deploy_bundle(_bundle(**{"f.bpmn": source}), world.users.designer, role_map={"Reviewers": "boss"})
    [definition] = services.deploy_bundle(_bundle(**{"f.bpmn": source}), world.users.designer,
                                          role_map={"Reviewers": "security_office"}, replace=True)
    assert definition.task_meta["check"]["lane"] == "security_office"
    with services.uow() as uow:
        deployment = uow.session.get(Deployment, definition.deployment_id)
        assert (deployment.role_map, deployment.replace) == ({"Reviewers": "security_office"}, True)


def test_only_designers_deploy_or_validate_bundles_and_a_refused_bundle_stores_nothing(services, world):
    bundle = _bundle(**{"review.bpmn": callee(), "r.json": REVIEW_FORM})
    with pytest.raises(NotAllowed):
        services.deploy_bundle(bundle, world.users.staff)
    with pytest.raises(NotAllowed):
        services.validate_bundle(bundle, world.users.staff)
    broken = _bundle(**{"review.bpmn": callee(), "main.bpmn": caller().replace(b'"after"', b'"aft"', 1)})
    with pytest.raises(InvalidDiagram):
        services.deploy_bundle(broken, world.users.designer)
    with services.uow() as uow:
        assert uow.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == "review")).all() == []


DISCOUNT_DMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="discounts" name="Discounts"
    namespace="http://example.org/dmn">
  <decision id="discount" name="Discount">
    <decisionTable id="dt_discount">
      <input id="in_amount">
        <inputExpression id="ie_amount" typeRef="number"><text>amount</text></inputExpression></input>
      <output id="out_discount" name="discount" typeRef="number" />
      <rule id="r_small"><inputEntry id="e_small"><text>&lt; 100</text></inputEntry>
        <outputEntry id="o_small"><text>0</text></outputEntry></rule>
      <rule id="r_mid"><inputEntry id="e_mid"><text>100 &lt;= ? &lt; 1000</text></inputEntry>
        <outputEntry id="o_mid"><text>5</text></outputEntry></rule>
      <rule id="r_big"><inputEntry id="e_big"><text>&gt;= 1000</text></inputEntry>
        <outputEntry id="o_big"><text>amount // 100</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


def test_decision_tables_with_comparisons_and_ranges_run_in_the_restricted_evaluator(services, world):
    rule = '<bpmn:businessRuleTask id="decide" name="折扣" camunda:decisionRef="discount" />'
    source = diagram("discounting", process("discounting", rule + user_task("ok", "确认"), ["decide", "ok"],
                                            lane_tasks=["ok"]))
    services.deploy_bundle(_bundle(**{"d.bpmn": source, "rules__discount.dmn": DISCOUNT_DMN}), world.users.designer)
    for amount, discount in ((50, 0), (100, 5), (999, 5), (2500, 25)):
        instance = services.start_process("discounting", world.users.designer, {"amount": amount})
        assert _data_of_open_task(services, instance.id)["discount"] == discount
