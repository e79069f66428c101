"""Checklist templates: attachment 1 layout in and out, every bad row reported, nothing imported on error."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from engine.campaigns import checklists
from engine.campaigns.checklists import ChecklistImportFailed
from engine.campaigns.models import ChecklistItem, ChecklistTemplate

HEADER = "督查项目,序号,督查内容,督查方法,责任部门\n"


def _count(services, model) -> int:
    with services.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def _import(services, source: bytes, filename="list.csv", name="清单", progress=None):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, source, filename, name, services.clock.now(),
                                               progress=progress)
        uow.commit()
        return template.id


def test_bad_rows_are_all_reported_with_line_numbers_and_nothing_is_imported(services):
    source = (HEADER + "消防安全,1,消防设施,现场查看,保卫处\n"
              ",x,演练,查阅资料,保卫处\n"  # line 3: bad 序号
              "交通,1,,查阅资料,保卫处\n"  # line 4: no content
              "交通,2,校车,拍照,\n"  # line 5: bad method and no unit
              "消防安全,1,重复,查阅资料,保卫处\n").encode()  # line 6: repeats line 2
    with pytest.raises(ChecklistImportFailed, match="4 bad row") as caught:
        _import(services, source)
    lines = [e["line"] for e in caught.value.errors]
    assert lines == [3, 4, 5, 5, 6]
    assert "repeats line 2" in caught.value.errors[-1]["message"]
    assert _count(services, ChecklistTemplate) == 0 and _count(services, ChecklistItem) == 0


def test_a_wrong_header_is_refused(services):
    with pytest.raises(ChecklistImportFailed, match="header"):
        _import(services, "项目,序号,内容\n消防,1,x\n".encode())


def test_xlsx_round_trip_keeps_items_and_merged_categories(services):
    source = (HEADER.strip() + ",适用部位\n消防安全,1,消防设施,查阅资料 现场查看,保卫处 后勤管理处,食堂 宿舍\n"
              ",2,应急演练,问询谈话,各二级学院,\n").encode()
    seen = []
    template_id = _import(services, source, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 2)]
    with services.uow() as uow:
        data = checklists.export_checklist(uow.session, template_id, "xlsx", extra_columns=True)
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows[0] == (*checklists.HEADERS, "适用部位", "牵头部门")
    assert rows[2][:5] == (None, 2, "应急演练", "问询谈话", "各二级学院")
    again = _import(services, data, "copy.xlsx", "副本")
    with services.uow() as uow:
        items = checklists.get_template(uow.session, again).items
        assert [(i.category, i.serial, i.methods, i.units, i.locations) for i in items] == [
            ("消防安全", 1, ["查阅资料", "现场查看"], ["保卫处", "后勤管理处"], ["食堂", "宿舍"]),
            ("消防安全", 2, ["问询谈话"], ["各二级学院"], [])]


def test_xlsx_errors_name_the_spreadsheet_row(services):
    book = Workbook()
    sheet = book.active
    sheet.append(list(checklists.HEADERS))
    sheet.append(["消防安全", 1, "消防设施", "查阅资料", "保卫处"])
    sheet.append(["消防安全", 2, "演练", "查阅资料", None])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(ChecklistImportFailed) as caught:
        _import(services, out.getvalue(), "list.xlsx")
    assert caught.value.errors == [{"line": 3, "message": "责任部门 is empty"}]


def test_csv_export_reads_back_identically(services):
    source = (HEADER + "消防安全,1,消防设施,现场查看,保卫处\n,2,演练,查阅资料,保卫处\n").encode("gb18030")
    template_id = _import(services, source)
    with services.uow() as uow:
        exported = checklists.export_checklist(uow.session, template_id, "csv")
        extra = checklists.export_checklist(uow.session, template_id, "csv", extra_columns=True)
    # Attachment 1's five columns, unless the optional ones are asked for (empty here).
    assert exported.decode("utf-8-sig").splitlines()[0] == "督查项目,序号,督查内容,督查方法,责任部门"
    assert exported.decode("utf-8-sig").splitlines()[2] == ",2,演练,查阅资料,保卫处"
    assert extra.decode("utf-8-sig").splitlines()[2] == ",2,演练,查阅资料,保卫处,,"


def test_checklist_exports_keep_a_formula_inert_and_import_back_the_same_text(services):
    formula = '=HYPERLINK("http://x")'
    source = (HEADER + f'消防安全,1,"{formula.replace(chr(34), chr(34) * 2)}",现场查看,保卫处\n').encode("utf-8")
    template_id = _import(services, source)
    with services.uow() as uow:
        csv_data = checklists.export_checklist(uow.session, template_id, "csv")
        xlsx_data = checklists.export_checklist(uow.session, template_id, "xlsx")
    assert csv_data.decode("utf-8-sig").splitlines()[1].startswith("消防安全,1,\"'=HYPERLINK")  # text in Excel
    cell = load_workbook(io.BytesIO(xlsx_data)).active["C2"]
    assert (cell.value, cell.data_type) == (formula, "s")
    for filename, data in (("again.csv", csv_data), ("again.xlsx", xlsx_data)):
        again = _import(services, data, filename, name=f"再导入 {filename}")
        with services.uow() as uow:
            items = uow.session.scalars(select(ChecklistItem).where(ChecklistItem.template_id == again)).all()
        assert [i.content for i in items] == [formula], filename


def test_shipped_templates_from_the_seeds_load(services):
    with services.uow() as uow:
        loaded = checklists.load_shipped(uow.session, services.bpmn_dir, services.clock.now())
        counts = {t.name: len(t.items) for t in loaded}
        uow.commit()
    assert counts == {"seed000_eight_areas": 8, "seed001_twelve_areas": 12, "seed002_look_back": 14,
                      "seed003_twelve_items": 12}
    with services.uow() as uow:  # loading again adds nothing
        checklists.load_shipped(uow.session, services.bpmn_dir, services.clock.now())
        uow.commit()
    assert _count(services, ChecklistTemplate) == 4
