"""The statistics table on a campaign's report dates (报送日期, seed 001: 11-22, 12-06, 12-20, 01-03): stored once.

Each campaign keeps, in the indexed `campaigns.next_report_date`, its earliest report date without a snapshot, so
the job reads only campaigns whose date has come (running or already closed: the last report is often due after
the campaign's own work ends). A date's figures are taken as of 18:00 China time that day and are generated once
that moment has passed. Each campaign is handled in its own transaction under its row lock (SKIP LOCKED on
PostgreSQL; SQLite serialises writers), and the unique (campaign_id, report_date) turns a lost race into a
no-op, so running the job twice, or in two processes at once, stores each snapshot once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign
from engine.campaigns.service import parse_report_dates
from engine.infra.db import is_postgres
from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import User
from engine.process.events import record_event
from engine.process.outbox import enqueue
from engine.reports import statistics
from engine.reports.models import StatisticsReport

REPORT_TITLE = "校园安全专项整治工作隐患问题统计表"
READY_KIND = "statistics_report_ready"


@dataclass
class ReportRun:
    """What one run of the report job did."""

    generated: list[tuple[int, date]] = field(default_factory=list)
    campaigns: int = 0


def report_dates(stages: dict | None) -> list[date]:
    """A campaign's report dates, sorted (entries that are not dates were refused when it was created)."""
    return parse_report_dates((stages or {}).get("report_dates"))[0]


def first_report_date(stages: dict | None) -> date | None:
    """The value of `next_report_date` for a new campaign: its first report date, if it has any."""
    dates = report_dates(stages)
    return dates[0] if dates else None


def report_period(campaign: Campaign, day: date) -> tuple[date, date]:
    """The period a report date covers: from the day after the previous report date (the first: from the day
    the campaign was created) to the report date itself."""
    earlier = [d for d in report_dates(campaign.stages) if d < day]
    start = earlier[-1] + timedelta(days=1) if earlier else campaign.created_at.astimezone(CHINA).date()
    return min(start, day), day


def figures_for(s: Session, campaign: Campaign, day: date, as_of: datetime | None = None) -> dict:
    """The figures of a campaign's report date: its organiser's subtree, its hazards, its period, as of 18:00."""
    start, end = report_period(campaign, day)
    moment = as_of or statistics.report_moment(day)
    return statistics.compute(s, statistics.Query(org_id=campaign.org_id, start=start, end=end, as_of=moment,
                                                  campaign_id=campaign.id))


def generate_due_reports(services, limit: int = 200) -> ReportRun:
    """Store the snapshot of every report date whose moment has passed and that has none yet; notify each
    campaign organiser's security office that its table is ready."""
    now = services.clock.now()
    today = now.astimezone(CHINA).date()
    with services.uow() as uow:
        due = list(uow.session.scalars(
            select(Campaign.id).where(Campaign.next_report_date <= today)
            .order_by(Campaign.next_report_date, Campaign.id).limit(limit)))
    run = ReportRun(campaigns=len(due))
    for campaign_id in due:
        try:
            days = _generate_for(services, campaign_id, now)
        except IntegrityError:
            days = []  # another process stored this snapshot between our check and our commit
        run.generated += [(campaign_id, day) for day in days]
    return run


def _generate_for(services, campaign_id: int, now: datetime) -> list[date]:
    with services.uow() as uow:
        s = uow.session
        stmt = select(Campaign).where(Campaign.id == campaign_id).execution_options(populate_existing=True)
        if is_postgres(s):
            stmt = stmt.with_for_update(skip_locked=True)
        campaign = s.scalars(stmt).first()
        # Locked by another job (it is doing this campaign), or done since we looked: nothing to do.
        if campaign is None or campaign.next_report_date is None:
            return []
        dates = report_dates(campaign.stages)
        stored = set(s.scalars(select(StatisticsReport.report_date).where(StatisticsReport.campaign_id == campaign.id)))
        made = []
        for day in dates:
            moment = statistics.report_moment(day)
            if day in stored or moment > now:
                continue
            report = StatisticsReport(campaign_id=campaign.id, report_date=day, as_of=moment, generated_at=now,
                                      figures=figures_for(s, campaign, day, moment))
            s.add(report)
            s.flush()
            _announce(s, campaign, report, now)
            made.append(day)
        campaign.next_report_date = next((d for d in dates if d not in stored and d not in made), None)
        uow.commit()
        return made


def _announce(s: Session, campaign: Campaign, report: StatisticsReport, now: datetime) -> None:
    """The audit event on the campaign and the outbox notification to the organiser's security office."""
    totals = report.figures["totals"]
    record_event(s, now, "StatisticsReportGenerated", None, instance_id=campaign.instance_id,
                 campaign_id=campaign.id, report_id=report.id, report_date=report.report_date.isoformat(),
                 totals={k: totals[k] for k in statistics.COUNTS})
    role, org_id = organiser_office(s, campaign)
    enqueue(s, now, READY_KIND,
            {"name": f"{campaign.title}：{REPORT_TITLE}（{report.report_date.isoformat()}）",
             "campaign_id": campaign.id, "report_id": report.id, "report_date": report.report_date.isoformat(),
             "subject_kind": "statistics_report", "subject_id": report.id,
             "total": totals["total"], "open": totals["open"], "overdue": totals["overdue"]},
            role=role, org_id=org_id)


def organiser_office(s: Session, campaign: Campaign) -> tuple[str, int]:
    """Who compiles the table: the security office of the organiser's school, or a bureau's supervisors."""
    org = campaign.org
    school = accounts.nearest(s, org, "school")
    if school is not None:
        return "security_office", school.id
    return "supervisor", org.id


# -- reading snapshots ----------------------------------------------------------------------------------------
def list_reports(s: Session, user: User, campaign_id: int) -> tuple[Campaign, list[StatisticsReport]]:
    """A campaign's stored snapshots, by date, for a user whose statistics scope covers its organiser."""
    campaign = s.get(Campaign, campaign_id)
    if campaign is None or not statistics.can_read_statistics(s, user, campaign.org_id):
        raise NotFound(f"campaign {campaign_id} does not exist")
    reports = list(s.scalars(select(StatisticsReport).where(StatisticsReport.campaign_id == campaign_id)
                             .order_by(StatisticsReport.report_date)))
    return campaign, reports


def get_report(s: Session, user: User, report_id: int) -> StatisticsReport:
    """One snapshot, if the user's statistics scope covers its campaign's organiser; NotFound otherwise."""
    report = s.get(StatisticsReport, report_id)
    campaign = s.get(Campaign, report.campaign_id) if report is not None else None
    if campaign is None or not statistics.can_read_statistics(s, user, campaign.org_id):
        raise NotFound(f"statistics report {report_id} does not exist")
    return report
