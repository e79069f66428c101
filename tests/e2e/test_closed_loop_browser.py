"""One major hazard walked around the whole closed loop in a real browser, in Chinese, by every role."""
from __future__ import annotations

import re
import struct
import zlib

import pytest
from openpyxl import load_workbook

pytestmark = pytest.mark.slow

PROBLEM = "化学品仓库通风设备损坏，气味明显"
LEDGER_COLUMNS = ["序号", "部位", "检查内容", "存在隐患问题", "整改措施", "整改完成情况", "责任人", "检查时间", "销号时间",
                  "备注"]


def _png(width: int = 48, height: int = 32) -> bytes:
    """A small real PNG (a photo stand-in the browser can display)."""
    raw = b"".join(b"\x00" + bytes((200, 60, 40)) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _photo(name: str) -> dict:
    return {"name": name, "mimeType": "image/png", "buffer": _png()}


class Desk:
    """One person at their own browser (own cookies), signed in."""

    def __init__(self, browser, base: str, username: str, viewport=None):
        self.base = base
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.goto(f"{base}/login")
        self.page.fill("#username", username)
        self.page.fill("#password", "demo1234")
        self.page.locator("main form button[type=submit]").click()
        self.page.wait_for_url(re.compile(r".*/(inbox|dashboard).*"))  # leaders and supervisors land on 驾驶舱

    def open(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def take_task(self, hazard_id: int, bpmn_id: str, already_mine: bool = False):
        """From the hazard page, open its current step and claim it (unless it came to this user already claimed)."""
        page = self.open(f"/hazards/{hazard_id}")
        page.click(f"[data-testid=open-task-{bpmn_id}]")
        if already_mine:
            assert page.locator("[data-testid=claim]").count() == 0
        else:
            page.click("[data-testid=claim]")
        page.wait_for_selector("[data-testid=task-form]")
        return page

    def submitted(self, button: str = "[data-testid=submit-task]"):
        """Submit the task form and expect to land in the inbox with a confirmation."""
        self.page.click(button)
        self.page.wait_for_url(re.compile(r".*/inbox.*"))
        assert "已办理" in self.page.inner_text(".alert-success")


def test_major_hazard_goes_round_the_whole_loop_in_the_browser(browser, live_server, screenshots, tmp_path):
    # 1. A college staff member reports the hazard with a photo, on a phone-sized screen.
    staff = Desk(browser, live_server, "staff_jd", viewport={"width": 390, "height": 844})
    page = staff.open("/hazards/new")
    page.fill("#f-location", "机电实训楼化学品仓库")
    page.fill("#f-check_item", "危险化学品储存")
    page.fill("#f-problem", PROBLEM)
    page.select_option("#f-category", "危险化学品")
    page.set_input_files("#photos", [_photo("现场.png")])
    page.screenshot(path=str(screenshots / "report_mobile.png"), full_page=True)
    page.click("[data-testid=report-submit]")
    page.wait_for_url(re.compile(r".*/hazards/\d+$"))
    hazard_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("[data-testid=attachments] img").count() == 1

    # 2. The security office finds it in the group inbox, claims it and grades it 重大 (a field error first).
    security = Desk(browser, live_server, "security")
    page = security.open("/inbox?view=groups")
    item = page.locator(".task-item", has_text=PROBLEM)
    assert "登记评估隐患" in item.inner_text()
    page.screenshot(path=str(screenshots / "inbox.png"), full_page=True)
    item.locator("[data-testid^=claim-]").click()  # htmx: the row is swapped in place, no reload
    item.get_by_text("已认领").wait_for()
    item.get_by_role("link", name="办理").click()
    page.select_option("#f-grade", "major")
    page.select_option("#f-responsible_unit_id", label="机电工程学院")
    page.fill("#f-deadline", "2026-11-30")
    page.click("[data-testid=submit-task]")
    assert page.inner_text("[data-testid=error-responsible_person]") == "此项为必填项"
    assert page.input_value("#f-deadline") == "2026-11-30"
    page.fill("#f-responsible_person", "刘院长")
    page.screenshot(path=str(screenshots / "task_form.png"), full_page=True)
    security.submitted()

    # 3. 即查即报: the bureau reviews the major hazard's report.
    bureau = Desk(browser, live_server, "bureau")
    page = bureau.take_task(hazard_id, "review_major_report")
    page.fill("#f-guidance", "立即停用仓库，设置警示标志，限期整改")
    bureau.submitted()

    # 4. The unit files its plan (四落实) and rectifies, uploading evidence.
    head = Desk(browser, live_server, "head_jd")
    page = head.take_task(hazard_id, "rectification_plan")
    page.fill("#f-plan_owner", "刘院长")
    page.fill("#f-plan_measures", "更换通风设备，增设气体检测报警器")
    page.fill("#f-plan_deadline", "2026-11-25")
    page.fill("#f-plan_contingency", "仓库停用并上锁，每日巡查")
    assert page.inner_text("[data-testid=readonly-grade]") == "重大隐患"  # a 重大 hazard's 四落实 needs its funds
    page.click("[data-testid=submit-task]")
    assert page.inner_text("[data-testid=error-plan_funds]") == "此项为必填项"
    page.fill("#f-plan_funds", "学校专项经费 2 万元")
    head.submitted()
    worker = Desk(browser, live_server, "staff_jd2")
    page = worker.take_task(hazard_id, "rectify")
    page.set_input_files("[data-testid=evidence-input]", [_photo("整改后.png")])
    page.click("[data-testid=evidence-upload]")
    page.wait_for_selector("[data-testid=task-form]")
    page.fill("#f-measures", "已更换通风机")
    page.fill("#f-completion", "通风恢复")
    worker.submitted()

    # 5. The security office rejects once (a reason is required), the unit fixes again, then it is accepted.
    page = security.take_task(hazard_id, "accept_rectification")
    assert page.locator("[data-testid=attachments] img").count() == 2
    page.click("[data-testid=decide-no]")
    assert page.inner_text("[data-testid=error-reason]") == "此项为必填项"
    page.fill("#f-reason", "未安装气体检测报警器")
    security.submitted("[data-testid=decide-no]")
    page = worker.take_task(hazard_id, "rectify", already_mine=True)  # the rework returns to whoever did the work
    assert page.input_value("#f-measures") == "已更换通风机"  # the earlier answer is offered again
    page.fill("#f-measures", "已更换通风机并安装气体检测报警器")
    page.fill("#f-completion", "已全部完成")
    worker.submitted()
    page = security.take_task(hazard_id, "accept_rectification")
    page.fill("#f-opinion", "现场复查合格")
    security.submitted("[data-testid=decide-yes]")

    # 6. A 重大 hazard is closed by the school leader.
    leader = Desk(browser, live_server, "leader")
    page = leader.take_task(hazard_id, "approve_closure")
    leader.submitted("[data-testid=decide-yes]")

    # 7. The hazard is archived; its page shows the loop, the diagram and the audit trail.
    page = security.open(f"/hazards/{hazard_id}")
    assert page.inner_text("[data-testid=hazard-status]") == "备案存档"
    page.wait_for_selector("#bpmn-canvas[data-rendered] .djs-container")
    trail = page.inner_text("[data-testid=timeline]")
    assert "未安装气体检测报警器" in trail and "领导审批销号" in trail
    page.screenshot(path=str(screenshots / "hazard_detail.png"), full_page=True)

    # 8. The unit's ledger shows the row closed with 销号时间; the Excel file has the ten columns.
    page = head.open("/ledger")
    row = page.locator("[data-testid=ledger-table] tbody tr", has_text=PROBLEM)
    cells = row.locator("td").all_inner_texts()
    assert cells[3] == PROBLEM and cells[8] == "2026-11-02" and "气体检测报警器" in cells[4]
    page.screenshot(path=str(screenshots / "ledger.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("[data-testid=ledger-xlsx]")
    target = tmp_path / "ledger.xlsx"
    download_info.value.save_as(target)
    sheet = load_workbook(target).active
    assert [c.value for c in sheet[3]] == LEDGER_COLUMNS
    lines = [[c.value for c in r] for r in sheet.iter_rows(min_row=4) if r[3].value == PROBLEM]
    assert len(lines) == 1 and lines[0][8] is not None
    assert "机电工程学院" in sheet["A2"].value
