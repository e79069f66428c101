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


def test_school_ledger_numbers_lines_across_units_under_a_heading_per_unit(services, world, report_hazard):
    report_hazard(world.users.staff, location="A101")
    report_hazard(world.users.logistics_staff, location="食堂")
    report_hazard(world.users.staff, location="A102")
    with services.uow() as uow:
        s = uow.session
        rows = ledger.ledger_rows(s, world.orgs.school)
        headed = [(heading, row.number, row.location) for heading, row in ledger.with_unit_headings(rows)]
        data = ledger.ledger_workbook(s, world.orgs.school)
    # The units in tree order (机电工程学院 before 后勤管理处), 序号 running on across them.
    first, second = headed[0][0], headed[2][0]
    assert [h[1:] for h in headed] == [(1, "A101"), (2, "A102"), (3, "食堂")]
    assert (first, headed[1][0], second) == ("机电工程学院", None, "后勤管理处")
    assert all(r.remarks is None for r in rows)  # the unit is the heading now, not a remark
    sheet = load_workbook(io.BytesIO(data)).active
    assert [sheet.cell(n, 1).value for n in range(4, 9)] == ["责任单位：机电工程学院", 1, 2, "责任单位：后勤管理处", 3]
    assert "A4:J4" in {str(r) for r in sheet.merged_cells.ranges}


def test_a_unit_ledger_keeps_the_unit_serial_and_has_no_headings(services, world, report_hazard):
    report_hazard(location="A101")
    report_hazard(location="A102")
    with services.uow() as uow:
        data = ledger.ledger_workbook(uow.session, world.orgs.college, status="open")
    sheet = load_workbook(io.BytesIO(data)).active
    assert [sheet.cell(n, 1).value for n in (4, 5)] == [1, 2] and sheet.cell(4, 2).value == "A101"


def test_ledger_pages_are_bounded_slices_in_ledger_order(services, world, report_hazard):
    for n in range(5):
        report_hazard(world.users.staff if n % 2 else world.users.logistics_staff, location=f"部位{n}")
    with services.uow() as uow:
        s = uow.session
        every = ledger.ledger_rows(s, world.orgs.school)
        assert ledger.count_rows(s, world.orgs.school) == 5
        pages = [list(ledger.iter_rows(s, world.orgs.school, offset=o, limit=2)) for o in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r for p in pages for r in p] == every and [r.number for r in every] == [1, 2, 3, 4, 5]


def test_ledger_shows_the_registered_responsible_person_through_a_major_hazards_loop(
        services, world, report_hazard, do, open_tasks):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "major", "responsible_person": "王主任", "deadline": "2026-11-20",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "review_major_report", world.users.supervisor, {"guidance": "立即停用"})
    do(hazard.id, "rectification_plan", world.users.head,
       {"plan_owner": "刘院长", "plan_measures": "更换防护罩", "plan_deadline": "2026-12-01",
        "plan_contingency": "停用该车床", "plan_funds": "学校专项经费"})
    with services.uow() as uow:
        [row] = ledger.ledger_rows(uow.session, world.orgs.college)
    assert row.responsible_person == "王主任" and row.measures == "更换防护罩"


def test_ledger_workbook_keeps_a_formula_typed_as_a_problem_as_text(services, world, report_hazard):
    report_hazard(problem='=HYPERLINK("http://x")', location="+A101")
    with services.uow() as uow:
        data = ledger.ledger_workbook(uow.session, world.orgs.college, reporter="=1+1")
    sheet = load_workbook(io.BytesIO(data)).active
    problem, location = sheet.cell(4, 4), sheet.cell(4, 2)
    assert (problem.value, problem.data_type) == ('=HYPERLINK("http://x")', "s")
    assert (location.value, location.data_type) == ("+A101", "s")
    assert sheet["A6"].data_type == "s"  # 上报人：… starts with its label, never with the typed text


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
