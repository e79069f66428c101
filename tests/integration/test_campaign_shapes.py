"""Campaign shapes played with a moved clock: the stages a campaign has, and who supervises.

Seed 001 on the demo's 兰州现代职业学院: 自查自纠 → 整改完善 → 督导检查 (no joint inspection), the 牵头部门 its checklist
names supervising each college, their 督查报告 kept per college for the year-end assessment. Seed 003: a bureau's
school self-check → bureau full-coverage check → joint supervision of three schools with other district departments.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import or_, select

from engine.campaigns import checklists, dashboard, supervision
from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import Campaign
from engine.campaigns.phase import process_phase
from engine.campaigns.queries import unit_business_key
from engine.campaigns.service import Campaigns
from engine.demo import build_demo
from engine.infra.errors import NotAllowed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import candidates
from engine.process.models import HumanTask, ProcessInstance

LEAD_CSV = ("督查项目,序号,督查内容,督查方法,责任部门,牵头部门\n"
            "完善网格管理,1,网格管理人员名单、联系电话张贴公示,查阅资料 现场查看,各二级学院,保卫处\n"
            "实验实训室危化品安全整治,1,实验实训室危化品购买、存储、使用及处置,现场查看,各二级学院,教务处\n").encode()
SEED001 = {"self_check": {"start": "2026-11-09", "end": "2026-11-15"},
           "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
           "supervision": {"start": "2026-12-16", "end": "2026-12-30"},
           "report_dates": ["2026-11-22", "2026-12-06"]}
SEED003 = {"self_check": {"start": "2026-05-06", "end": "2026-05-12"},
           "joint_inspection": {"start": "2026-05-13", "end": "2026-05-20"},
           "supervision": {"start": "2026-05-21", "end": "2026-05-31"},
           "situation_report_due": "2026-05-10"}


def china(day: str, hour: int) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=hour), CHINA).astimezone(
        timezone.utc)


def _ready(services, campaign_id: int, bpmn_id: str) -> list[HumanTask]:
    """Open tasks of the campaign's own instance and its units' self-checks (the demo runs a campaign of its own)."""
    keys = (ProcessInstance.business_key == f"campaign:{campaign_id}",
            ProcessInstance.business_key.startswith(unit_business_key(campaign_id)))
    with services.uow() as uow:
        return list(uow.session.scalars(select(HumanTask).join(ProcessInstance).where(
            or_(*keys), HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready").order_by(HumanTask.id)))


def _self_checks(services, campaigns, campaign_id, people: dict[int, tuple[int, int]], reviewer) -> None:
    """Every unit answers all its items, works and signs its self-check; its school's security office accepts it."""
    for unit_id, (staff, head) in people.items():
        with services.uow() as uow:
            s = uow.session
            items = items_for_unit(s.get(Campaign, campaign_id).template, s.get(OrgNode, unit_id))
            rows = [{"item_id": i.id, "result": "checked"} for i in items]
        campaigns.record_item_results(staff, campaign_id, unit_id, rows)
        (work,) = [t for t in _ready(services, campaign_id, "work_checklist") if t.candidate_org_id == unit_id]
        services.complete_task(work.id, staff, {"remarks": "已逐项自查"})
        (sign,) = [t for t in _ready(services, campaign_id, "sign_self_check")
                   if t.candidate_org_id == unit_id]
        services.complete_task(sign.id, head, {"signer_name": "负责人"})
        review = [t for t in _ready(services, campaign_id, "review_self_check")]
        services.complete_task(review[0].id, reviewer(unit_id), {"decision": "accept"})


def _phase(services, campaign_id: int) -> str:
    with services.uow() as uow:
        return process_phase(uow.session, uow.session.get(Campaign, campaign_id))[0]


def _staff_and_head(s, org: OrgNode, now, tag: str) -> tuple[int, int]:
    staff = accounts.add_user(s, f"staff_{tag}", f"{org.name}干事", "pw", org, now, roles=[("department_staff", org)])
    head = accounts.add_user(s, f"head_{tag}", f"{org.name}负责人", "pw", org, now, roles=[("department_head", org)])
    return staff.id, head.id


def test_seed001_on_the_demo_school_runs_three_stages_and_its_lead_offices_supervise_each_college(services, clock):
    clock.set(china("2026-11-08", 9))
    build_demo(services)
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        school = s.scalars(select(OrgNode).where(OrgNode.code == "gs-lz-cg-xdzy")).one()
        units = {n.name: n for n in s.scalars(select(OrgNode).where(OrgNode.parent_id == school.id))}
        jd, xx, bw, jw = (units[n] for n in ("机电工程学院", "信息工程学院", "保卫处", "教务处"))
        people = {jd.id: (accounts.find_user(s, "staff_jd").id, accounts.find_user(s, "head_jd").id),
                  xx.id: _staff_and_head(s, xx, now, "xx"), bw.id: _staff_and_head(s, bw, now, "bw"),
                  jw.id: _staff_and_head(s, jw, now, "jw")}
        # A lead office's head supervises for it (and anyone it gives the 督导 role at the office).
        supervisors = {bw.id: accounts.add_user(s, "sup_bw", "保卫处督导", "pw", bw, now, roles=[("supervisor", bw)]).id,
                       jw.id: people[jw.id][1]}
        security = accounts.find_user(s, "security").id
        template = checklists.import_checklist(s, LEAD_CSV, "seed001.csv", "校园安全专项整治（牵头部门）", now)
        uow.commit()
        ids = {"jd": jd.id, "xx": xx.id, "bw": bw.id, "jw": jw.id, "school": school.id, "template": template.id}
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(security, "2026年校园安全专项整治", ids["template"],
                                         [ids["jd"], ids["xx"], ids["bw"], ids["jw"]], SEED001,
                                         supervised_by="lead_units")
    assert campaign.stages["situation_report_due"] == "2026-11-15"  # with the self-check (seed 000), by default
    assert campaign.supervised_by == "lead_units"
    assert [key for key, _s, _e in dashboard.windows(campaign)] == ["self_check", "rectification", "supervision"]

    clock.set(china("2026-11-09", 9))
    services.fire_due_timers()
    assert _phase(services, campaign.id) == "self_check"
    report_tasks = _ready(services, campaign.id, "situation_report")
    assert len(report_tasks) == 4
    assert {t.due_at.astimezone(CHINA).date() for t in report_tasks} == {date(2026, 11, 15)}
    _self_checks(services, campaigns, campaign.id, people, lambda _unit: security)
    (summary,) = _ready(services, campaign.id, "review_returns")
    services.complete_task(summary.id, security, {"summary": "四个单位全部上报"})
    # No joint inspection: the gateway goes straight to 整改完善 (no hazards open, so it clears at once and waits
    # for the supervision's start date).
    assert _ready(services, campaign.id, "joint_inspection") == []
    assert _phase(services, campaign.id) == "rectification"

    clock.set(china("2026-12-16", 9))
    services.fire_due_timers()
    assert _phase(services, campaign.id) == "supervision"
    tasks = _ready(services, campaign.id, "supervision_check")
    pairs = {(t.candidate_org_id, t.name) for t in tasks}
    assert pairs == {(ids["bw"], "督导检查：机电工程学院（保卫处）"), (ids["bw"], "督导检查：信息工程学院（保卫处）"),
                     (ids["jw"], "督导检查：机电工程学院（教务处）"), (ids["jw"], "督导检查：信息工程学院（教务处）")}
    # Each lead office's 督导 role holders, and its head as a second candidate group (the diagram's candidateGroups).
    assert all(("department_head", t.candidate_org_id) in {(c.role, c.org_id) for c in t.candidates} for t in tasks)
    with services.uow() as uow:
        assert supervisors[ids["bw"]] in {u.id for t in tasks if t.candidate_org_id == ids["bw"]
                                          for u in candidates.task_candidates(uow.session, t).items}
    with pytest.raises(NotAllowed):  # a college's own head does not supervise it
        services.complete_task(tasks[0].id, people[ids["jd"]][1], {"report": "自评"})
    for task in tasks:
        services.complete_task(task.id, supervisors[task.candidate_org_id],
                               {"report": f"{task.name}：各环节落实到位", "sampled": "实训楼"})
    assert len(_ready(services, campaign.id, "closing_summary")) == 1

    with services.uow() as uow:
        s = uow.session
        year = supervision.reports_by_unit(s, [ids["jd"], ids["xx"], ids["bw"]], china("2026-01-01", 0),
                                           china("2027-01-01", 0))
        assert set(year) == {ids["jd"], ids["xx"]}  # the colleges are supervised, the lead offices are not
        assert sorted(r.supervisor_org_id for r in year[ids["jd"]]) == sorted([ids["bw"], ids["jw"]])
        assert all(r.campaign_id == campaign.id and r.report.endswith("各环节落实到位") for r in year[ids["xx"]])
        assert supervision.reports_by_unit(s, [ids["jd"]], china("2027-01-01", 0)) == {}  # another period


def test_seed003_a_bureau_checks_then_supervises_three_schools_jointly_with_district_departments(services, clock):
    clock.set(china("2026-05-05", 9))
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        city = accounts.add_org(s, "city", "上海市教委", "sh")
        bureau = accounts.add_org(s, "county", "青浦区教育局", "sh-qp", city)
        sup = accounts.add_user(s, "sup_qp", "区督导", "pw", bureau, now, roles=[("supervisor", bureau)]).id
        inspector = accounts.add_user(s, "insp_qp", "区检查", "pw", bureau, now, roles=[("inspector", bureau)]).id
        people, security, school_ids = {}, {}, []
        for n in range(1, 4):
            school = accounts.add_org(s, "school", f"青浦区第{n}中学", f"sh-qp-{n}", bureau)
            office = accounts.add_org(s, "unit", "安全办", f"sh-qp-{n}-aq", school)
            people[office.id] = _staff_and_head(s, office, now, f"aq{n}")
            security[office.id] = accounts.add_user(s, f"sec_{n}", f"保卫{n}", "pw", office, now,
                                                    roles=[("security_office", school)]).id
            school_ids.append(school.id)
        organiser = accounts.add_user(s, "sec_qp", "区安全科", "pw", bureau, now,
                                      roles=[("security_office", bureau)]).id
        csv = "督查项目,序号,督查内容,督查方法,责任部门\n校车管理,1,校车标牌是否在有效期内,查阅资料,全体单位\n".encode()
        template = checklists.import_checklist(s, csv, "seed003.csv", "安全隐患排查整治（十二项）", now).id
        uow.commit()
        bureau_id = bureau.id
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(organiser, "复学复课安全隐患排查整治", template, school_ids, SEED003,
                                         org_id=bureau_id, whole_schools=True,
                                         stage_list=["self_check", "joint_inspection", "supervision"])
    assert campaign.stages["situation_report_due"] == "2026-05-10"
    clock.set(china("2026-05-06", 9))
    services.fire_due_timers()
    _self_checks(services, campaigns, campaign.id, people, lambda unit: security[unit])
    (summary,) = _ready(services, campaign.id, "review_returns")
    services.complete_task(summary.id, organiser, {"summary": "三校自查完成"})
    clock.set(china("2026-05-13", 9))
    services.fire_due_timers()
    (check,) = _ready(services, campaign.id, "joint_inspection")  # 教育局全覆盖检查
    assert check.candidate_org_id == bureau_id
    services.complete_task(check.id, inspector, {"summary": "全覆盖检查完成"})
    # No rectification stage: straight on to the supervision, which opens on its date.
    assert _phase(services, campaign.id) == "joint_inspection"
    assert _ready(services, campaign.id, "supervision_check") == []
    clock.set(china("2026-05-21", 9))
    services.fire_due_timers()
    tasks = _ready(services, campaign.id, "supervision_check")
    assert {t.candidate_org_id for t in tasks} == {bureau_id} and len(tasks) == 3  # one per school
    for task in tasks:
        services.complete_task(task.id, sup, {"report": "联合督查合格",
                                              "participants": "区公安分局、区市场监管局\n区消防救援支队"})
    with services.uow() as uow:
        reports = supervision.reports_by_unit(uow.session, school_ids)
        assert set(reports) == set(school_ids)
        assert {tuple(r.participants) for rows in reports.values() for r in rows} == {
            ("区公安分局", "区市场监管局", "区消防救援支队")}
    assert _phase(services, campaign.id) == "summary"  # every school supervised: on to 审定总结
