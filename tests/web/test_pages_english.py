"""The campaign, statistics, notice and schedule pages in English: every label comes from the catalogue."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.schedules.service import Schedules, run_due_schedules

from .ui_fixtures import app, login  # noqa: F401

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施设备配备管理情况,现场查看,各二级学院\n".encode()
STAGES = {"self_check": {"end": "2026-11-15"}, "joint_inspection": {"end": "2026-11-20"},
          "rectification": {"end": "2026-12-15"}, "supervision": {"end": "2026-12-30"},
          "report_dates": ["2026-11-16"]}
REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20", "onsite_fix": False}
CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# What stays Chinese in English: the world's and the fixtures' data, notice numbers, the language switch.
DATA = re.compile(r"某\S*?(学院|教育局|教育厅)|另一学院|保卫处|机电工程学院|后勤管理处|冬季专项整治|小清单|实训楼每日巡视|实训楼A?\d*|车床防护罩缺失|"
                  r"刘院长|设备防护|消防\S*|〔\d+〕整改第 \d+ 号|简体中文|中文|2026年校园安全专项整治")

# Each page, the English labels it must show, and the Chinese labels it must no longer show.
PAGES = {
    "/campaigns": (["Campaigns", "Start a campaign", "Current stage", "Stage deadlines", "Coverage",
                    "Open hazards", "Self-check", "In progress"],
                   ["专项整治</h1>", "当前阶段", "覆盖率", "未销号隐患", "发起于", "进行中"]),
    "/campaigns/new": (["Start a campaign", "Campaign title", "Checklist", "Stages", "Start date", "End date",
                        "Statistics report dates", "Participating units", "Organised by", "Preview",
                        "Campus safety campaign (twelve key areas)", "12 items", "Rectification"],
                       ["阶段安排", "参加单位", "开始日期", "截止日期", "报送日期", "预览", "十二项整治重点"]),
    "/statistics": (["Hazard statistics table", "1. By category and grade", "2. By responsible unit",
                     "3. By rectification status", "4. By how found", "Total hazards", "Closure rate",
                     "Awaiting registration", "Period from", "All hazards"],
                    ["隐患问题统计表", "按隐患类别和等级", "按整改状态", "隐患总数", "销号率", "待登记", "统计期间"]),
    "/notices": (["Rectification notices", "Notice no.", "Issued on", "View and print", "1 in total"],
                 ["通知书编号", "下达时间", "查看打印", "共 1 份"]),
    "/schedules": (["Inspection schedules", "New inspection schedule", "Frequency", "Daily", "Units and sites",
                    "Create schedule", "Next run", "Time allowed", "Monday"],
                   ["巡查计划", "新建巡查计划", "频次", "每天", "巡查对象", "下次启动", "完成时限", "周一"]),
}


class _VisibleText(HTMLParser):
    """The text a reader sees (and the labels a screen reader reads), without scripts and styles."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")
        self.parts += [v for k, v in attrs if k in ("aria-label", "placeholder", "title") and v]

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def _chinese_labels(html: str, data: re.Pattern) -> list[str]:
    """Visible runs of Chinese left once data (names, titles, notice numbers, the language switch) is taken out."""
    reader = _VisibleText()
    reader.feed(html)
    return [run for part in reader.parts for run in CJK_RUN.findall(data.sub(" ", part))]


@pytest.fixture
def english_world(services, world, report_hazard, do):
    """A running campaign, a hazard with its rectification notice and a daily patrol schedule that has run."""
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "小清单", services.clock.now())
        uow.commit()
        template_id = template.id
    Campaigns(services).create_campaign(world.users.security, "冬季专项整治", template_id,
                                        [world.orgs.college, world.orgs.logistics], STAGES)
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    Schedules(services).create_schedule(world.users.security, {
        "title": "实训楼每日巡视", "cadence": "daily",
        "target": {"units": [{"org_id": world.orgs.college, "sites": ["实训楼A"]}]}})
    run_due_schedules(services)
    return hazard


def _english(login):
    client = login("security")
    assert client.post("/language", data={"lang": "en"}).status_code == 303
    return client


@pytest.mark.parametrize("path", sorted(PAGES))
def test_new_pages_show_english_labels_and_no_chinese_ones(login, english_world, path):
    english, chinese = PAGES[path]
    response = _english(login).get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="en"' in html
    missing = [label for label in english if label not in html]
    assert not missing, f"{path} lacks English labels {missing}"
    left = [label for label in chinese if label in html]
    assert not left, f"{path} still shows {left}"


@pytest.mark.parametrize("path", sorted(PAGES))
def test_only_data_stays_chinese_on_the_english_pages(login, english_world, path):
    html = _english(login).get(path).get_data(as_text=True)
    assert _chinese_labels(html, DATA) == []


def test_the_printed_notice_reads_in_english_with_english_dates(login, english_world):
    html = _english(login).get(f"/hazards/{english_world.id}/notice").get_data(as_text=True)
    assert "Hazard rectification notice" in html and "Receipt of the hazard rectification notice" in html
    assert 'data-testid="notice-deadline">by 20 November 2026<' in html
    assert "On 2 November 2026 the following safety hazard" in html and "隐患整改通知书" not in html
    # The requirements are the notice's stored wording (data, written in Chinese when it was issued).


def test_chinese_stays_the_default_on_the_same_pages(login, english_world):
    client = login("security")
    assert "巡查计划" in client.get("/schedules").get_data(as_text=True)
    assert "一、按隐患类别和等级" in client.get("/statistics").get_data(as_text=True)
    notice = client.get(f"/hazards/{english_world.id}/notice").get_data(as_text=True)
    assert "2026年11月20日前" in notice and "Rectification" not in notice
