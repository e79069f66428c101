"""The hazard ledger (seed 002, attachment 2): rows, filters and the Excel layout."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

from openpyxl import load_workbook

from engine.org.models import OrgNode, User
from engine.rectification import ledger

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}


def _close_onsite(world, do, clock, hazard_id):
    do(hazard_id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard_id, "onsite_fix", world.users.staff, {"measures": "已加装防护罩", "completion": "已完成"})
    do(hazard_id, "accept_rectification", world.users.security, {"accepted": True, "opinion": "合格"})
    # 17:30 UTC is 01:30 the next day in China: the ledger must show the China date.
    clock.set(datetime(2026, 11, 5, 17, 30, tzinfo=timezone.utc))
    do(hazard_id, "close_hazard", world.users.security2, {"closing_note": "同意销号"})


def test_ledger_rows_number_by_unit_serial_and_show_china_dates(services, world, report_hazard, do, clock):
    first = report_hazard(location="实训楼A102")
    second = report_hazard(location="实训楼B201", problem="灭火器过期", category="消防")
    _close_onsite(world, do, clock, first.id)
    with services.uow() as uow:
        rows = ledger.ledger_rows(uow.session, world.orgs.college)
    assert [(r.serial, r.location) for r in rows] == [(1, "实训楼A102"), (2, "实训楼B201")]
    closed = rows[0]
    assert closed.closed_at == date(2026, 11, 6)
    assert closed.checked_at == date(2026, 11, 2)
    assert closed.measures == "已加装防护罩" and closed.responsible_person == "刘院长"
    assert rows[1].closed_at is None and second.id == rows[1].hazard_id


def test_ledger_filters_by_status_category_grade_and_date(services, world, report_hazard, do, clock):
    first = report_hazard()
    report_hazard(problem="灭火器过期", category="消防", checked_at="2026-10-20")
    _close_onsite(world, do, clock, first.id)
    with services.uow() as uow:
        s = uow.session
        college = world.orgs.college
        assert [r.hazard_id for r in ledger.ledger_rows(s, college, status="closed")] == [first.id]
        assert len(ledger.ledger_rows(s, college, status="open")) == 1
        assert [r.problem for r in ledger.ledger_rows(s, college, category="消防")] == ["灭火器过期"]
        assert [r.hazard_id for r in ledger.ledger_rows(s, college, grade="general")] == [first.id]
        assert [r.problem for r in ledger.ledger_rows(s, college, date_to=date(2026, 10, 31))] == ["灭火器过期"]
        assert [r.hazard_id for r in ledger.ledger_rows(s, college, date_from=date(2026, 11, 1))] == [first.id]


def test_school_ledger_names_each_rows_unit(services, world, report_hazard):
    report_hazard(world.users.staff)
    report_hazard(world.users.logistics_staff, location="食堂")
    with services.uow() as uow:
        rows = ledger.ledger_rows(uow.session, world.orgs.school)
    assert sorted(r.remarks for r in rows) == ["责任单位：后勤管理处", "责任单位：机电工程学院"]


def test_ledger_workbook_has_the_seed_layout(services, world, report_hazard, do, clock):
    hazard = report_hazard()
    _close_onsite(world, do, clock, hazard.id)
    with services.uow() as uow:
        s = uow.session
        s.get(OrgNode, world.orgs.college).head_user_id = world.users.head
        s.get(User, world.users.head).display_name = "刘院长"
        uow.commit()
    with services.uow() as uow:
        data = ledger.ledger_workbook(uow.session, world.orgs.college, made_on=date(2026, 11, 6), reporter="张三",
                                      contact="13800000001")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet["A1"].value == "某职业学院安全隐患自查整改清单"
    assert "A1:J1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet["A2"].value == "部门（章）：机电工程学院"
    assert sheet["E2"].value == "主要负责人：刘院长"
    assert sheet["H2"].value == "日期：2026 年 11 月 6 日"
    assert [c.value for c in sheet[3]] == list(ledger.COLUMNS)
    row = [c.value for c in sheet[4]]
    assert row[:7] == [1, "实训楼A102", "设备防护", "车床防护罩缺失", "已加装防护罩", "已完成", "刘院长"]
    assert row[7].date() == date(2026, 11, 2) and row[8].date() == date(2026, 11, 6)
    assert sheet["A6"].value == "上报人：张三"
    assert sheet["A7"].value == "联系方式：13800000001"  # attachment 2's footer: the reporter's phone
