"""Stored HTML injection, in a real browser: markup in every field users or designers fill stays text.

Each field gets a payload that, if rendered as HTML, leaves an element in the DOM (`id="inj-…"`), makes a request
(htmx's `hx-get … hx-trigger="load"`, an `<img src>`), or opens a dialog (`onerror`, `<script>`). Every page that
shows those fields is opened by the people who see them; no such element, request or dialog may appear, and each
payload must be seen as text somewhere (so the test cannot pass by not showing the field).
"""
from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from engine.assembly import assemble
from engine.campaigns.models import Campaign, CampaignUnit, ChecklistItem, ChecklistTemplate, ItemResult
from engine.infra.db import make_engine, make_session_factory
from engine.org.models import OrgNode, User
from engine.process.bundles import Bundle
from engine.process.models import HumanTask
from engine.rectification.attachments import EvidenceStore, add_attachment
from engine.rectification.comments import add_comment
from engine.rectification.hazards import report_hazard
from engine.rectification.models import RectificationNotice
from engine.rectification.notices import issue_notice
from engine.schedules.service import Schedules, run_due_schedules
from tests.incident_diagrams import diagram

from .test_closed_loop_browser import Desk, _png

pytestmark = pytest.mark.slow

PROBE = "probe-"  # every URL a payload would request contains this


def payload(tag: str) -> str:
    """Markup that htmx would run as the viewer (a GET on load), plus an image and a script, all marked by `tag`."""
    return (f'<b id="inj-{tag}" hx-get="{PROBE}{tag}" hx-trigger="load">{tag}</b>'
            f'<img id="inji-{tag}" src="{PROBE}img-{tag}" onerror="alert(1)"><script id="injs-{tag}">alert(2)</script>')


def short(tag: str) -> str:
    """The payload for fields of at most 100 characters (an element that makes a request, and an image)."""
    return f'<b id="inj-{tag}" hx-get="{PROBE}{tag}" hx-trigger="load">{tag}</b><img id="inji-{tag}" src="{PROBE}i">'


def seen(tag: str) -> str:
    """How the payload reads once shown as text."""
    return f'<b id="inj-{tag}"'


# A file name has no "/" (the part after the last one would be kept): markup that needs no closing tag.
NAME_PAYLOAD = f'<b id="inj-file" hx-get="{PROBE}file" hx-trigger="load">file<img id="inji-file" src="{PROBE}i">.png'

FORM = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": payload("formtitle"), "type": "object",
        "properties": {"note": {"type": "string", "title": payload("fieldtitle"), "description": payload("fielddesc"),
                                "maxLength": 2000},
                       "kind": {"type": "string", "title": "kind", "oneOf": [
                           {"const": "a", "title": payload("option")}, {"const": "b", "title": "b"}]}},
        "required": ["note"]}


def _task_node(task_id: str, tag: str) -> str:
    return (f'<bpmn:userTask id="{task_id}" name="{html.escape(payload(tag))}"><bpmn:extensionElements>'
            '<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" value="forms/xss.json" />'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def _one_task(s, **where) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.state == "ready")
    for key, value in where.items():
        stmt = stmt.where(getattr(HumanTask, key) == value)
    return s.scalars(stmt.order_by(HumanTask.id.desc())).first()


def _inject(tmp_path, clock, bpmn_dir) -> dict:
    """Fill every field with a payload, in the live server's database (the demo school), through the verbs."""
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    services = assemble(make_session_factory(engine), clock, bpmn_dir)
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    try:
        with services.uow() as uow:
            s = uow.session
            ids = {u.username: u.id for u in s.scalars(select(User))}
            jidian = s.scalars(select(OrgNode).where(OrgNode.name == "机电工程学院")).one()
            jidian.name = payload("org")  # an organisation name (admins import them)
            s.get(User, ids["staff_jd"]).display_name = payload("user")  # a person's display name
            template = s.scalars(select(ChecklistTemplate).where(
                ChecklistTemplate.name == "seed001_twelve_areas")).one()
            items = s.scalars(select(ChecklistItem).where(ChecklistItem.template_id == template.id)
                              .order_by(ChecklistItem.id)).all()
            for item in items[:3]:  # checklist items (uploaded spreadsheets)
                item.content = payload("item")
            items[0].category = payload("itemcategory")
            campaign = s.scalars(select(Campaign).order_by(Campaign.id)).first()
            campaign.title = payload("campaign")
            answers = select(ItemResult).join(CampaignUnit, CampaignUnit.id == ItemResult.campaign_unit_id)
            for result in s.scalars(answers.where(CampaignUnit.campaign_id == campaign.id)):
                result.note = payload("itemnote")  # a unit's answers to the checklist
            unit_id, campaign_id = jidian.id, campaign.id
            uow.commit()

        # A designer's diagram: task names and a JSON Schema form's titles come from it.
        bundle = Bundle(support_dir=bpmn_dir)
        bundle.add("xss_probe.bpmn", diagram("xss_probe", "xss_probe", [_task_node("enter", "task"),
                                                                         _task_node("approve", "task2")],
                                             ["enter", "approve"]))
        bundle.add("forms/xss.json", json.dumps(FORM, ensure_ascii=False).encode("utf-8"))
        services.deploy_bundle(bundle, ids["designer"])
        instance = services.start_process("xss_probe", ids["designer"], {})
        with services.uow() as uow:
            enter = _one_task(uow.session, instance_id=instance.id)
        services.claim_task(enter.id, ids["security"])
        services.complete_task(enter.id, ids["security"], {"note": payload("answer"), "kind": "a"})  # form answers
        with services.uow() as uow:
            approve = _one_task(uow.session, instance_id=instance.id)
        services.claim_task(approve.id, ids["security"])  # in the security office's own inbox, form open

        # A schedule's title becomes the patrol task's name (patrol.bpmn's nameExpression).
        Schedules(services).create_schedule(ids["security"], {
            "title": payload("schedule"), "cadence": "daily", "kind": "patrol", "window": "P1D",
            "target": {"role": "department_staff", "units": [{"org_id": unit_id, "sites": ["实训楼A"]}]}})
        run_due_schedules(services)
        with services.uow() as uow:
            patrol = _one_task(uow.session, candidate_org_id=unit_id, bpmn_id="patrol_check")

        # A hazard report's answers, a comment, an evidence file name; registered with a notice.
        hazard = report_hazard(services, ids["staff_jd"], {
            "location": payload("location"), "check_item": payload("checkitem"), "problem": payload("problem"),
            "category": "实训实验室", "source": "self_check", "checked_at": clock.now().date().isoformat()})
        add_comment(services, ids["staff_jd"], hazard.id, payload("comment"))
        add_attachment(services, ids["staff_jd"], hazard.id, filename=NAME_PAYLOAD, data=_png())
        with services.uow() as uow:
            register = _one_task(uow.session, hazard_id=hazard.id)
        services.claim_task(register.id, ids["security"])
        services.complete_task(register.id, ids["security"], {
            "grade": "major", "responsible_unit_id": unit_id, "responsible_person": short("rp"),
            "deadline": "2026-12-20", "onsite_fix": False})
        with services.uow() as uow:
            if uow.session.scalars(select(RectificationNotice).where(
                    RectificationNotice.hazard_id == hazard.id)).first() is None:
                issue_notice(services, hazard.id, ids["security"], requirements=payload("requirements"))
        return {"unit": unit_id, "campaign": campaign_id, "instance": instance.id, "approve": approve.id,
                "patrol": patrol.id, "hazard": hazard.id}
    finally:
        engine.dispose()


class Watched(Desk):
    """A signed-in person whose browser records every request a payload could make and every dialog."""

    def __init__(self, browser, base, username, log):
        super().__init__(browser, base, username)
        self.log = log
        self.context.on("request", lambda request: log["requests"].append(request.url)
                        if PROBE in request.url else None)
        self.page.on("dialog", lambda dialog: (log["dialogs"].append(dialog.message), dialog.dismiss()))

    def check(self, path: str) -> str:
        page = self.page
        response = page.goto(self.base + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        page.wait_for_load_state("load")  # htmx has processed the page by now (it starts on DOMContentLoaded)
        page.wait_for_timeout(250)  # time for any request htmx or an <img> started to reach the listener
        injected = page.locator('[id^="inj"]')
        assert injected.count() == 0, f"{path}: injected elements {injected.evaluate_all('e => e.map(x => x.id)')}"
        text = page.inner_text("body")
        assert '<b id="inj-' in text, f"{path} shows no payload at all"
        self.log["text"].append(text)
        return text


def test_markup_in_every_field_stays_text_in_the_browser(browser, live_server, tmp_path, clock, bpmn_dir):
    ids = _inject(tmp_path, clock, bpmn_dir)
    log = {"requests": [], "dialogs": [], "text": []}
    security = Watched(browser, live_server, "security", log)
    for path in ("/inbox?view=mine", "/inbox?view=groups", f"/tasks/{ids['approve']}", f"/hazards/{ids['hazard']}",
                 f"/hazards/{ids['hazard']}/notice", "/notices", "/ledger", "/campaigns",
                 f"/campaigns/{ids['campaign']}", f"/campaigns/{ids['campaign']}/units/{ids['unit']}",
                 f"/instances/{ids['instance']}"):
        security.check(path)
    staff = Watched(browser, live_server, "staff_jd", log)
    staff.check("/inbox?view=groups")
    staff.page.goto(f"{live_server}/tasks/{ids['patrol']}")
    staff.page.click("[data-testid=claim]")  # the claim answers with the task page, name and form
    staff.page.wait_for_selector("[data-testid=task-form]")
    for path in (f"/tasks/{ids['patrol']}", "/inbox?view=mine", f"/hazards/{ids['hazard']}",
                 f"/campaigns/{ids['campaign']}/units/{ids['unit']}"):
        staff.check(path)
    designer = Watched(browser, live_server, "designer", log)
    designer.check(f"/instances/{ids['instance']}")

    assert log["requests"] == [], f"payloads made requests: {log['requests']}"
    assert log["dialogs"] == [], f"payloads opened dialogs: {log['dialogs']}"
    shown = "\n".join(log["text"])
    tags = ("org", "user", "item", "itemcategory", "campaign", "itemnote", "task", "task2", "fieldtitle", "fielddesc",
            "option", "answer", "schedule", "location", "checkitem", "problem", "comment", "rp")
    # Process variables are shown as JSON (quotes escaped as \\").
    missing = [tag for tag in tags if seen(tag) not in shown and seen(tag).replace('"', '\\"') not in shown]
    assert not missing, f"these payloads were never shown, so the test proves nothing about them: {missing}"
    assert re.search(r"_b id=_inj-file_", shown), "the evidence file's name is shown with its markup neutralised"


def test_htmx_is_restricted_on_every_page(browser, live_server):
    """htmx only calls this site, evaluates nothing and runs no scripts; <main> is hx-disable'd unless needed."""
    desk = Desk(browser, live_server, "security")
    config = desk.page.evaluate("({self: htmx.config.selfRequestsOnly, evalOk: htmx.config.allowEval, "
                                "scripts: htmx.config.allowScriptTags, history: htmx.config.historyCacheSize})")
    assert config == {"self": True, "evalOk": False, "scripts": False, "history": 0}
    desk.open("/ledger")
    assert desk.page.locator("main[hx-disable]").count() == 1
    desk.open("/inbox?view=groups")
    assert desk.page.locator("main[hx-disable]").count() == 0  # the inbox claims with htmx
