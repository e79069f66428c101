"""牵头部门 (a checklist item's lead unit) is imported, exported and answered by that unit; a campaign whose units
leave items unanswered by anyone says so (全覆盖)."""
from __future__ import annotations

import csv
import io

from engine.campaigns import checklists, coverage
from engine.campaigns.service import Campaigns
from engine.org.models import OrgNode
from tests.integration.test_multischool_campaign import STAGES, _bureaus

# 牵头部门 between 督查方法 and 责任部门, as some schools lay the form out; the lead need not be a 责任部门.
LEAD_CSV = ("督查项目,序号,督查内容,督查方法,牵头部门,责任部门\n"
            "消防安全,1,消防设施设备配备管理情况,查阅资料,保卫处,各二级学院\n"
            "实验室安全,1,危化品管理,现场查看,,各二级学院\n"
            "食品安全,1,食堂食材采购索证索票,查阅资料,,后勤管理处\n").encode()


def test_the_lead_unit_column_is_read_exported_and_answered_by_its_unit(services):
    w = _bureaus(services)
    with services.uow() as uow:
        s = uow.session
        template = checklists.import_checklist(s, LEAD_CSV, "lead.csv", "牵头清单", services.clock.now())
        assert [i.lead_unit for i in template.items] == ["保卫处", None, None]
        security_office = s.get(OrgNode, w.orgs.s1_bw)  # an office: not one of 各二级学院
        assert [i.content for i in checklists.items_for_unit(template, security_office)] == ["消防设施设备配备管理情况"]
        rows = list(csv.reader(io.StringIO(checklists.export_checklist(s, template.id, "csv", True).decode("utf-8-sig"))))
        assert rows[0][-1] == "牵头部门" and rows[1][-1] == "保卫处"
        again = checklists.parse_rows(checklists.read_rows(checklists.export_checklist(s, template.id, "xlsx", True), "x.xlsx"))
        assert [r.lead for r in again] == ["保卫处", None, None]


def test_a_header_without_an_attachment_column_is_still_refused():
    bad = "督查项目,序号,督查内容,牵头部门,责任部门\n消防安全,1,x,保卫处,保卫处\n".encode()
    try:
        checklists.parse_rows(checklists.read_rows(bad, "bad.csv"))
    except checklists.ChecklistImportFailed as exc:
        assert "expected columns" in exc.errors[0]["message"]
    else:
        raise AssertionError("a header without 督查方法 was accepted")


def test_a_campaign_lists_the_items_no_unit_of_it_answers(services):
    w = _bureaus(services)
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, LEAD_CSV, "lead.csv", "牵头清单", services.clock.now())
        uow.commit()
        template_id = template.id
    campaigns = Campaigns(services)
    # Only 保卫处 takes part: the college items and 后勤管理处's item reach nobody.
    narrow = campaigns.create_campaign(w.users.security_s1, "只有保卫处", template_id, [w.orgs.s1_bw], STAGES)
    wide = campaigns.create_campaign(w.users.security_s1, "全部单位", template_id, [w.orgs.s1_bw, w.orgs.s1_jd],
                                     STAGES)
    with services.uow() as uow:
        assert [i.content for i in coverage.uncovered_items(uow.session, narrow.id)] == [
            "危化品管理", "食堂食材采购索证索票"]
        assert [i.content for i in coverage.uncovered_items(uow.session, wide.id)] == ["食堂食材采购索证索票"]
