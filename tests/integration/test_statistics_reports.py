"""Statistics snapshots on a campaign's report dates: as of 18:00 that day, once, announced to the security office."""
from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, inspect, select

from engine.assembly import assemble
from engine.campaigns import checklists
from engine.campaigns.models import Campaign
from engine.campaigns.service import Campaigns
from engine.infra.clock import FixedClock
from engine.infra.db import make_engine, make_session_factory
from engine.infra.errors import NotFound
from engine.infra.schema import downgrade, upgrade
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process import delivery
from engine.process.delivery import Message
from engine.process.models import Event, InAppNotification, OutboxMessage
from engine.rectification.hazards import report_hazard
from engine.rectification.models import Hazard
from engine.reports import snapshots as statistics_reports
from engine.reports import statistics
from engine.reports.models import StatisticsReport
from notifications.channels import build_notifiers
from notifications.templates import render

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施设备配备管理情况,现场查看,各二级学院\n".encode()
STAGES = {"self_check": {"end": "2026-11-15"}, "joint_inspection": {"end": "2026-11-20"},
          "rectification": {"end": "2026-12-15"}, "supervision": {"end": "2026-12-30"},
          "report_dates": ["2026-11-05", "2026-11-03", "2026-12-20"]}
REG = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09", "onsite_fix": True}
FIRE = {"location": "实训楼A102", "problem": "灭火器过期", "category": "消防", "source": "self_check"}


def _at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA).astimezone(timezone.utc)


def _new_campaign(services, world, title="2026年冬季校园安全专项整治", stages=STAGES):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", f"清单-{title}", services.clock.now())
        uow.commit()
    return Campaigns(services).create_campaign(world.users.security, title, template.id,
                                               [world.orgs.college, world.orgs.logistics], stages).id


@pytest.fixture
def campaign(services, world, do):
    """At T0: X (in the campaign) fixed on site and waiting for 销号; Y (in it) unregistered; Z outside it."""
    campaign_id = _new_campaign(services, world)
    x = report_hazard(services, world.users.staff, FIRE, campaign_id=campaign_id)
    do(x.id, "register_hazard", world.users.security, {**REG, "responsible_unit_id": world.orgs.college})
    do(x.id, "onsite_fix", world.users.staff, {"measures": "更换灭火器", "completion": "已完成"})
    do(x.id, "accept_rectification", world.users.security, {"accepted": True})
    y = report_hazard(services, world.users.logistics_staff, {**FIRE, "problem": "疏散通道堵塞"},
                               campaign_id=campaign_id)
    report_hazard(services, world.users.staff, {**FIRE, "category": "交通", "problem": "无减速带"})
    return {"id": campaign_id, "x": x.id, "y": y.id}


def _snapshots(services, campaign_id):
    with services.uow() as uow:
        return list(uow.session.scalars(select(StatisticsReport).where(StatisticsReport.campaign_id == campaign_id)
                                        .order_by(StatisticsReport.report_date)))


def _next_date(services, campaign_id):
    with services.uow() as uow:
        return uow.session.get(Campaign, campaign_id).next_report_date


def test_a_new_campaign_waits_for_its_first_report_date(services, world, campaign):
    assert _next_date(services, campaign["id"]) == date(2026, 11, 3)
    assert statistics_reports.generate_due_reports(services).generated == []


def test_nothing_is_stored_before_1800_on_the_report_date(services, world, campaign, clock):
    clock.set(_at(11, 3, 17))
    run = statistics_reports.generate_due_reports(services)
    assert (run.campaigns, run.generated) == (1, [])
    assert _snapshots(services, campaign["id"]) == []


def test_a_hazard_closed_after_the_report_date_counts_open_in_that_dates_snapshot(services, world, campaign, clock,
                                                                                   do):
    clock.set(_at(11, 4, 10))  # the job was down at 18:00 yesterday; X is closed before it runs
    do(campaign["x"], "close_hazard", world.users.security2, {"closing_note": "同意销号"})
    run = statistics_reports.generate_due_reports(services)
    assert run.generated == [(campaign["id"], date(2026, 11, 3))]
    [report] = _snapshots(services, campaign["id"])
    assert report.as_of == _at(11, 3, 18) and report.generated_at == clock.now()
    totals = report.figures["totals"]
    assert (totals["total"], totals["open"], totals["closed"]) == (2, 2, 0), "the non-campaign hazard is not counted"
    assert report.figures["period"] == {"start": "2026-11-02", "end": "2026-11-03"}
    assert {r["key"]: r["count"] for r in report.figures["by_status"]}["close"] == 1
    assert report.figures["scope"]["campaign_id"] == campaign["id"]
    assert {r["label"] for r in report.figures["by_unit"]} == {"机电工程学院", "后勤管理处"}
    assert _next_date(services, campaign["id"]) == date(2026, 11, 5)

    clock.set(_at(11, 6, 9))
    statistics_reports.generate_due_reports(services)
    second = _snapshots(services, campaign["id"])[1]
    assert second.report_date == date(2026, 11, 5)
    assert second.figures["period"] == {"start": "2026-11-04", "end": "2026-11-05"}
    t = second.figures["totals"]
    assert (t["open"], t["closed"], t["closed_in_period"], t["found_in_period"]) == (1, 1, 1, 0)
    assert _next_date(services, campaign["id"]) == date(2026, 12, 20)


def test_running_twice_stores_one_snapshot_one_event_one_notification(services, world, campaign, clock):
    clock.set(_at(11, 6, 9))  # both 11-03 and 11-05 are due: one run catches up on both
    first = statistics_reports.generate_due_reports(services)
    again = statistics_reports.generate_due_reports(services)
    assert [d for _, d in first.generated] == [date(2026, 11, 3), date(2026, 11, 5)]
    assert again.generated == [] and again.campaigns == 0, "nothing is due any more: the index is not even hit"
    assert [r.report_date for r in _snapshots(services, campaign["id"])] == [date(2026, 11, 3), date(2026, 11, 5)]
    with services.uow() as uow:
        s = uow.session
        events = list(s.scalars(select(Event).where(Event.kind == "StatisticsReportGenerated")))
        outbox = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "statistics_report_ready")))
        campaign_row = s.get(Campaign, campaign["id"])
        assert [e.data["report_date"] for e in events] == ["2026-11-03", "2026-11-05"]
        assert {e.instance_id for e in events} == {campaign_row.instance_id}
        assert [(m.recipient_role, m.recipient_org_id) for m in outbox] == [("security_office", world.orgs.school)] * 2
        assert outbox[0].payload["report_date"] == "2026-11-03" and "统计表" in outbox[0].payload["name"]
        assert outbox[0].payload["subject_kind"] == "statistics_report"
    rendered = render(Message(id=outbox[0].id, channel="email", kind=outbox[0].kind, payload=outbox[0].payload))
    assert rendered.subject.startswith("【隐患整改】隐患问题统计表已生成：2026年冬季校园安全专项整治")


def test_a_closed_campaign_still_gets_its_remaining_report_dates(services, world, campaign, clock):
    with services.uow() as uow:
        uow.session.get(Campaign, campaign["id"]).status = "closed"
        uow.commit()
    clock.set(_at(12, 21, 9))
    run = statistics_reports.generate_due_reports(services)
    assert [d for _, d in run.generated] == [date(2026, 11, 3), date(2026, 11, 5), date(2026, 12, 20)]
    assert _next_date(services, campaign["id"]) is None


def test_a_campaign_without_report_dates_is_never_read(services, world, clock):
    campaign_id = _new_campaign(services, world, "无报送日期", {k: v for k, v in STAGES.items() if k != "report_dates"})
    assert _next_date(services, campaign_id) is None
    clock.set(_at(12, 31, 9))
    assert statistics_reports.generate_due_reports(services).campaigns == 0


def test_snapshots_are_read_only_by_those_whose_statistics_scope_covers_the_organiser(services, world, campaign,
                                                                                     clock):
    clock.set(_at(11, 4, 9))
    statistics_reports.generate_due_reports(services)
    with services.uow() as uow:
        s = uow.session
        security = accounts.get_user(s, world.users.security)
        _, reports = statistics_reports.list_reports(s, security, campaign["id"])
        assert [r.report_date for r in reports] == [date(2026, 11, 3)]
        assert statistics_reports.get_report(s, accounts.get_user(s, world.users.supervisor), reports[0].id)
        for name in ("head", "staff", "outsider"):
            with pytest.raises(NotFound):
                statistics_reports.list_reports(s, accounts.get_user(s, getattr(world.users, name)), campaign["id"])
            with pytest.raises(NotFound):
                statistics_reports.get_report(s, accounts.get_user(s, getattr(world.users, name)), reports[0].id)


def test_two_report_jobs_at_once_store_each_snapshot_once(services, world, database_url, bpmn_dir, clock):
    ids = [_new_campaign(services, world, f"专项整治{i}") for i in range(4)]
    clock.set(_at(11, 6, 9))
    other = assemble(make_session_factory(make_engine(database_url)), FixedClock(clock.now()), bpmn_dir)
    start = threading.Barrier(2)
    runs, errors = [], []

    def job(svc):
        start.wait()
        try:
            runs.append(statistics_reports.generate_due_reports(svc))
        except Exception as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(svc,)) for svc in (services, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    assert sorted(g for run in runs for g in run.generated) == sorted(
        (i, d) for i in ids for d in (date(2026, 11, 3), date(2026, 11, 5)))
    with services.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(StatisticsReport)) == 8
        assert len(list(s.scalars(select(Event.id).where(Event.kind == "StatisticsReportGenerated")))) == 8
        ready = select(OutboxMessage.id).where(OutboxMessage.kind == "statistics_report_ready")
        assert len(list(s.scalars(ready))) == 8


def test_the_migration_schedules_campaigns_created_before_it(services, world, database_url):
    campaign_id = _new_campaign(services, world)
    downgrade(database_url, "0005")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        assert "next_report_date" not in [c["name"] for c in inspect(conn).get_columns("campaigns")]
    engine.dispose()
    upgrade(database_url)
    assert _next_date(services, campaign_id) == date(2026, 11, 3)


def test_figures_for_a_campaign_match_a_live_query_of_the_same_date(services, world, campaign, clock):
    clock.set(_at(11, 4, 9))
    statistics_reports.generate_due_reports(services)
    [report] = _snapshots(services, campaign["id"])
    with services.uow() as uow:
        live = statistics.compute(uow.session, statistics.Query(
            org_id=world.orgs.school, start=date(2026, 11, 2), end=date(2026, 11, 3), campaign_id=campaign["id"],
            as_of=statistics.parse_as_of("2026-11-03", clock.now())))
        assert uow.session.get(Hazard, campaign["x"]).campaign_id == campaign["id"]
    assert live == report.figures


def test_the_report_notice_reaches_the_security_offices_bell(services, world, campaign, clock):
    """Through the real producer and delivery: on PostgreSQL the notice used to stay pending (subject_kind too long)."""
    clock.set(_at(11, 3, 19))
    statistics_reports.generate_due_reports(services)
    run = delivery.deliver_pending(services, build_notifiers(services, environ={}))
    assert run.failed == 0
    [report] = _snapshots(services, campaign["id"])
    with services.uow() as uow:
        s = uow.session
        statuses = s.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "statistics_report_ready")
                             .where(OutboxMessage.channel == "inapp")).all()
        assert statuses and set(statuses) == {"sent"}
        bell = s.scalars(select(InAppNotification).where(InAppNotification.kind == "statistics_report_ready")).all()
        assert len(bell) == len(statuses) and world.users.security in {b.user_id for b in bell}
        assert {(b.subject_kind, b.subject_id) for b in bell} == {("statistics_report", report.id)}
