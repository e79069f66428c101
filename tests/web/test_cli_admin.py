"""`rectiflow webhook`, `calendar` and `prefs` as an administrator runs them, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.process import delivery
from engine.process.calendar import CalendarBook
from engine.process.models import (
    Event,
    NotificationPreference,
    OutboxMessage,
    WebhookEndpoint,
)
from notifications.fake import FakeNotifier
from web.cli.main import main

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123-secret-abcd"


@pytest.fixture
def cli(database_url, world):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def _event_for(services, org_id, kind="task_escalated"):
    with services.uow() as uow:
        uow.session.add(OutboxMessage(created_at=services.clock.now(), kind=kind, recipient_role="security_office",
                                      recipient_org_id=org_id, status="pending", next_attempt_at=services.clock.now(),
                                      payload={"task_id": 1, "name": "落实整改", "hazard_id": 1}))
        uow.commit()


def _webhook_rows(services) -> list[OutboxMessage]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "webhook")))


def test_webhook_add_list_remove_and_a_removed_robot_gets_nothing_new(cli, services, world):
    added = cli("webhook", "add", "--org", "p-c-b-s", "--name", "保卫处值班群", "--url", ROBOT,
                "--kind", "task_escalated", "--kind", "task_overdue")
    endpoint_id = int(re.search(r"webhook (\d+) added", added).group(1))
    listed = cli("webhook", "list")
    assert "保卫处值班群" in listed and "p-c-b-s" in listed and "task_escalated,task_overdue" in listed
    assert "secret" not in listed and "?…abcd" in listed, "the robot's key is not printed"
    _event_for(services, world.orgs.school)
    _event_for(services, world.orgs.school, kind="task_created")  # not a kind this robot wants
    delivery.fan_out(services, {"webhook"})
    assert [r.payload["endpoint_id"] for r in _webhook_rows(services)] == [endpoint_id]
    assert "removed" in cli("webhook", "remove", str(endpoint_id))
    assert "no webhook endpoints" in cli("webhook", "list", "--org", "p-c-b-s")
    assert "[removed]" in cli("webhook", "list", "--all")
    _event_for(services, world.orgs.school)
    delivery.fan_out(services, {"webhook"})
    assert len(_webhook_rows(services)) == 1, "no new sends after removal"
    assert "not_found" in cli("webhook", "remove", str(endpoint_id), code=1)
    with services.uow() as uow:
        kinds = [e.kind for e in uow.session.scalars(select(Event).order_by(Event.id))]
        assert kinds[-2:] == ["WebhookEndpointAdded", "WebhookEndpointRemoved"]
        assert ROBOT not in str([e.data for e in uow.session.scalars(select(Event))]), "no key in the audit trail"


def test_webhook_add_refuses_bad_input_and_stores_nothing(cli, services):
    bad_url = cli("webhook", "add", "--org", "p-c-b-s", "--name", "群", "--url", "ftp://robot.example/x", code=1)
    assert "url: 地址须为 http(s)://" in bad_url
    assert "not_found" in cli("webhook", "add", "--org", "no-such-org", "--name", "群", "--url", ROBOT, code=1)
    assert "Invalid value for '--kind'" in cli("webhook", "add", "--org", "p-c-b-s", "--name", "群", "--url", ROBOT,
                                               "--kind", "everything", code=2)
    with services.uow() as uow:
        assert uow.session.scalars(select(WebhookEndpoint)).first() is None


def test_calendar_days_are_added_listed_with_inheritance_and_removed(cli, services, world):
    sports_day = date(2026, 11, 24)  # a Tuesday
    cli("calendar", "add", "--org", "p-c-b-s", "--date", "2026-11-24", "--kind", "holiday", "--name", "校运动会")
    listed = cli("calendar", "list", "--org", "s-jd")
    assert re.search(r"2026-11-24\s+holiday\s+校运动会\s+from 某职业学院", listed)
    with services.uow() as uow:
        assert not CalendarBook(uow.session).for_org(world.orgs.college).is_working_day(sports_day)
    # The college works that day after all: its own entry wins over the school's.
    cli("calendar", "add", "--org", str(world.orgs.college), "--date", "2026-11-24", "--kind", "workday",
        "--name", "学院照常上课")
    listed = cli("calendar", "list", "--org", "s-jd", "--year", "2026")
    assert re.search(r"2026-11-24\s+workday\s+学院照常上课\s+own\n", listed)
    assert re.search(r"2026-11-24\s+holiday\s+校运动会\s+from 某职业学院\s+\(overridden\)", listed)
    assert "national calendar applies" in cli("calendar", "list", "--org", "s-jd", "--year", "2027")
    with services.uow() as uow:
        assert CalendarBook(uow.session).for_org(world.orgs.college).is_working_day(sports_day)
        assert not CalendarBook(uow.session).for_org(world.orgs.logistics).is_working_day(sports_day)
    cli("calendar", "remove", "--org", "s-jd", "--date", "2026-11-24")
    assert "not_found" in cli("calendar", "remove", "--org", "s-jd", "--date", "2026-11-24", code=1)
    with services.uow() as uow:
        assert not CalendarBook(uow.session).for_org(world.orgs.college).is_working_day(sports_day)
        kinds = [e.kind for e in uow.session.scalars(select(Event).where(Event.kind.like("CalendarDay%")))]
        assert kinds == ["CalendarDaySet", "CalendarDaySet", "CalendarDayRemoved"]
    assert "Invalid value for '--date'" in cli("calendar", "add", "--org", "s-jd", "--date", "24.11.2026",
                                               "--kind", "holiday", code=2)


def test_prefs_show_defaults_then_a_choice_that_delivery_follows(cli, services, world):
    shown = cli("prefs", "show", "--user", "staff")
    assert "e-mail: none (e-mail is off)" in shown
    assert re.search(r"task_reminder\s+immediate\s+off\s*\n", shown), "bell on, no address so no e-mail"
    cli("prefs", "set", "--user", "staff", "--kind", "task_reminder", "--channel", "inapp", "--mode", "digest")
    cli("prefs", "set", "--user", "staff", "--kind", "*", "--channel", "inapp", "--mode", "off")
    shown = cli("prefs", "show", "--user", "staff")
    assert re.search(r"task_reminder\s+digest\*", shown) and re.search(r"task_overdue\s+off\s", shown)
    assert re.search(r"\*\s+off\*", shown)
    with services.uow() as uow:
        assert {(p.event_kind, p.channel, p.mode) for p in uow.session.scalars(select(NotificationPreference))} == {
            ("task_reminder", "inapp", "digest"), ("*", "inapp", "off")}
    for kind in ("task_reminder", "task_overdue"):
        with services.uow() as uow:
            uow.session.add(OutboxMessage(created_at=services.clock.now(), kind=kind, recipient_id=world.users.staff,
                                          status="pending", next_attempt_at=services.clock.now(), payload={}))
            uow.commit()
    delivery.deliver_pending(services, {"inapp": FakeNotifier("inapp")})
    with services.uow() as uow:
        held = [(r.kind, r.status) for r in uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "inapp"))]
    assert held == [("task_reminder", "digest")], "reminders wait for the digest; overdue is off"
    assert "not_found" in cli("prefs", "show", "--user", "nobody", code=1)
    assert "Invalid value for '--channel'" in cli("prefs", "set", "--user", "staff", "--kind", "*",
                                                  "--channel", "webhook", "--mode", "off", code=2)


@pytest.mark.parametrize("group", ["webhook", "calendar", "prefs"])
def test_every_admin_command_explains_itself(cli, group):
    text = cli(group, "--help")
    subcommands = re.findall(r"^  (\w+)\s", text.split("Commands:")[1], re.M)
    assert subcommands
    for sub in subcommands:
        assert "Usage:" in cli(group, sub, "--help")
