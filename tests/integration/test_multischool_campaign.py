"""A bureau's campaign over three schools, from 自查 to 督导, with every task reaching a real person; a sibling bureau's
school sees none of it; checklist unit groups reach exactly the units they name."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns.models import CampaignUnit
from engine.campaigns.service import Campaigns
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import candidates
from engine.process.models import HumanTask
from engine.rectification import visibility

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料,各二级学院 保卫处\n"
       "实验室安全,1,危化品管理,现场查看,各二级学院\n"
       "治安保卫,1,门卫值守,查阅资料,保卫处\n").encode()
STAGES = {"self_check": {"start": "2026-11-02", "end": "2026-11-15"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-20"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"}}


def _bureaus(services):
    """A city over two bureaus: bureau A with three schools, bureau B with one; people for every role at every level."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        city = accounts.add_org(s, "city", "某市教育局", "m")
        ids, users = {}, {}

        def person(name, org, *roles):
            users[name] = accounts.add_user(s, name, name, "pw", org, now, roles=[(r, org) for r in roles]).id

        for b in ("a", "b"):
            bureau = accounts.add_org(s, "county", f"{b}区教育局", f"m-{b}", city)
            ids[b] = bureau.id
            person(f"sup_{b}", bureau, "supervisor")
            person(f"safety_{b}", bureau, "security_office")  # the bureau's 安全科
            person(f"inspector_{b}", bureau, "inspector")
            person(f"leader_{b}", bureau, "leader")
        person("sup_city", s.get(OrgNode, city.id), "supervisor")
        for school_code, bureau in (("s1", "a"), ("s2", "a"), ("s3", "a"), ("s4", "b")):
            school = accounts.add_org(s, "school", f"学校{school_code}", f"m-{bureau}-{school_code}",
                                      s.get(OrgNode, ids[bureau]))
            ids[school_code] = school.id
            person(f"security_{school_code}", school, "security_office")
            for code, name, unit_type in (("bw", "保卫处", "office"), ("jd", "机电工程学院", "college")):
                unit = accounts.add_org(s, "unit", name, f"{school.code}-{code}", school)
                unit.unit_type = unit_type
                ids[f"{school_code}_{code}"] = unit.id
                person(f"staff_{school_code}_{code}", unit, "department_staff")
                person(f"head_{school_code}_{code}", unit, "department_head")
        template = checklists.import_checklist(s, CSV, "t.csv", "三校清单", now)
        uow.commit()
    return SimpleNamespace(orgs=SimpleNamespace(**ids), users=SimpleNamespace(**users), template=template.id)


def _ready(services, bpmn_id: str) -> list[HumanTask]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == bpmn_id,
                                                                HumanTask.state == "ready").order_by(HumanTask.id)))


def _every_open_task_has_a_person(services) -> None:
    with services.uow() as uow:
        s = uow.session
        for task in s.scalars(select(HumanTask).where(HumanTask.state == "ready")):
            assert candidates.task_candidates(s, task).total > 0, (task.bpmn_id, task.candidate_role,
                                                                  task.candidate_org_id)


def _one_candidate(services, task: HumanTask) -> int:
    with services.uow() as uow:
        return candidates.task_candidates(uow.session, task).items[0].id


def test_a_bureau_campaign_over_three_schools_reaches_a_person_at_every_step(services, clock):
    w = _bureaus(services)
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(w.users.sup_a, "全区校园安全专项整治", w.template,
                                         [w.orgs.s1, w.orgs.s2, w.orgs.s3], STAGES, org_id=w.orgs.a,
                                        whole_schools=True)
    with services.uow() as uow:
        units = set(uow.session.scalars(select(CampaignUnit.org_id).where(CampaignUnit.campaign_id == campaign.id)))
    assert units == {getattr(w.orgs, f"s{n}_{u}") for n in (1, 2, 3) for u in ("bw", "jd")}  # schools → units
    _every_open_task_has_a_person(services)
    with services.uow() as uow:
        template = checklists.get_template(uow.session, w.template)
        by_unit = {code: [i.content for i in checklists.items_for_unit(template, uow.session.get(OrgNode, org))]
                   for code, org in (("bw", w.orgs.s1_bw), ("jd", w.orgs.s1_jd))}
    assert by_unit == {"bw": ["消防设施设备配备管理情况", "门卫值守"], "jd": ["消防设施设备配备管理情况", "危化品管理"]}
    for n in (1, 2, 3):
        for u in ("bw", "jd"):
            org_id = getattr(w.orgs, f"s{n}_{u}")
            with services.uow() as uow:
                template = checklists.get_template(uow.session, w.template)
                items = [i.id for i in checklists.items_for_unit(template, uow.session.get(OrgNode, org_id))]
            staff, head = getattr(w.users, f"staff_s{n}_{u}"), getattr(w.users, f"head_s{n}_{u}")
            campaigns.record_item_results(staff, campaign.id, org_id, [{"item_id": i, "result": "checked"}
                                                                       for i in items])
            work = [t for t in _ready(services, "work_checklist") if t.candidate_org_id == org_id]
            services.complete_task(work[0].id, staff, {"remarks": "已逐项自查"})
            sign = [t for t in _ready(services, "sign_self_check") if t.candidate_org_id == org_id]
            services.complete_task(sign[0].id, head, {"signer_name": "负责人"})
            review = [t for t in _ready(services, "review_self_check") if t.candidate_org_id == org_id
                      or t.candidate_org_id == getattr(w.orgs, f"s{n}")]
            # Each school's own security office reviews its units' returns.
            assert [t.candidate_org_id for t in review] == [getattr(w.orgs, f"s{n}")]
            services.complete_task(review[0].id, getattr(w.users, f"security_s{n}"), {"decision": "accept"})
    _every_open_task_has_a_person(services)
    (summary,) = _ready(services, "review_returns")
    assert summary.candidate_org_id == w.orgs.a
    services.complete_task(summary.id, w.users.safety_a, {"summary": "三校全部上报"})
    clock.set(datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc))
    services.fire_due_timers()
    _every_open_task_has_a_person(services)
    (joint,) = _ready(services, "joint_inspection")
    services.complete_task(joint.id, _one_candidate(services, joint), {"summary": "联合检查"})
    clock.set(datetime(2026, 12, 16, 1, 0, tzinfo=timezone.utc))
    services.fire_due_timers()
    _every_open_task_has_a_person(services)
    supervision = _ready(services, "supervision_check")  # one per school, each with its own 督查报告
    assert {t.candidate_org_id for t in supervision} == {w.orgs.a}  # the organising bureau supervises its own campaign
    assert len(supervision) == 3
    for task in supervision:
        services.complete_task(task.id, w.users.sup_a, {"report": "督导合格"})
    (closing,) = _ready(services, "closing_summary")
    services.complete_task(closing.id, _one_candidate(services, closing), {"summary": "完成"})


def _visible(services, user_id: int) -> int:
    with services.uow() as uow:
        s = uow.session
        page = visibility.list_tasks(s, accounts.get_user(s, user_id), services.clock.now(), "all", {}, 1, 50,
                                     hooks=services.hooks)
        return len(page.items)


def test_a_sibling_bureau_sees_none_of_it_and_the_city_sees_it_all(services):
    w = _bureaus(services)
    Campaigns(services).create_campaign(w.users.sup_a, "全区校园安全专项整治", w.template,
                                        [w.orgs.s1, w.orgs.s2, w.orgs.s3], STAGES, org_id=w.orgs.a,
                                        whole_schools=True)
    for name in ("security_s4", "sup_b", "staff_s4_jd", "head_s4_bw"):
        assert _visible(services, getattr(w.users, name)) == 0, name
    assert _visible(services, w.users.security_s1) == 4  # its two units' two tasks each
    assert _visible(services, w.users.staff_s2_jd) == 2
    assert _visible(services, w.users.sup_city) == 12 == _visible(services, w.users.sup_a)


def test_a_bureau_ledger_holds_every_school_below_it(services):
    from engine.rectification.hazards import report_hazard
    from engine.rectification.ledger import ledger_rows

    w = _bureaus(services)
    for n in (1, 2, 4):
        report_hazard(services, getattr(w.users, f"staff_s{n}_jd"),
                      {"location": f"学校{n}实训楼", "problem": "防护罩缺失", "category": "消防", "source": "self_check"})
    with services.uow() as uow:
        s = uow.session
        bureau_a = [r.location for r in ledger_rows(s, w.orgs.a)]
        city = [r.location for r in ledger_rows(s, s.scalars(select(OrgNode.id).where(OrgNode.code == "m")).one())]
        bureau_b = [r.location for r in ledger_rows(s, w.orgs.b, viewer=accounts.get_user(s, w.users.sup_b))]
        headings = [(r.number, r.unit_name) for r in ledger_rows(s, w.orgs.a)]
    assert sorted(bureau_a) == ["学校1实训楼", "学校2实训楼"]
    # Numbered on across the schools; each unit heading names its school, as every school has its own units.
    assert headings == [(1, "学校s1 机电工程学院"), (2, "学校s2 机电工程学院")]
    assert sorted(city) == ["学校1实训楼", "学校2实训楼", "学校4实训楼"]
    assert bureau_b == ["学校4实训楼"]
