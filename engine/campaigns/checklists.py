"""Checklist templates: import and export in seed 002 attachment 1 layout (CSV, XLSX), all or nothing."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.campaigns.models import CHECK_METHODS, ChecklistItem, ChecklistTemplate
from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from engine.infra.xlsx import csv_safe_row, csv_text, safe_row
from engine.org.models import OrgNode

HEADERS = ("督查项目", "序号", "督查内容", "督查方法", "责任部门")
LOCATIONS_HEADER = "适用部位"  # optional column: the sites or site types an item applies to
LEAD_HEADER = "牵头部门"  # optional column: the one unit that leads the item (it answers it too)
FORMATS = ("csv", "xlsx")
MAX_ROWS = 5000
_SPLIT = re.compile(r"[\s、，,；;/]+")


class ChecklistImportFailed(RectiflowError):
    """A checklist file has bad rows; nothing was imported. `errors` lists every one with its line number."""

    code = "checklist_import_failed"

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message, errors=errors)
        self.errors = errors


@dataclass
class ItemRow:
    line: int
    category: str
    serial: int
    content: str
    methods: list[str]
    units: list[str]
    locations: list[str] = field(default_factory=list)
    lead: str | None = None


def _split(text: str) -> list[str]:
    return [part for part in _SPLIT.split(text.strip()) if part]


def read_rows(source: bytes, filename: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every row of a CSV or XLSX file, header included."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        try:
            sheet = load_workbook(io.BytesIO(source), read_only=True, data_only=True).active
        except Exception as exc:  # openpyxl raises several kinds on a broken file
            raise ChecklistImportFailed(f"{filename}: not a readable Excel file",
                                        [{"line": 0, "message": f"{type(exc).__name__}: {exc}"}]) from None
        return [(n, ["" if v is None else str(v).strip() for v in row])
                for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    if suffix == ".csv":
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = source.decode("gb18030")  # Excel on Chinese Windows saves CSV as GBK
        reader = csv.reader(io.StringIO(text))
        return [(reader.line_num, [csv_text(c).strip() for c in row]) for row in reader]
    raise ChecklistImportFailed(f"{filename}: only .csv and .xlsx files can be imported",
                                [{"line": 0, "message": "unsupported file type"}])


def parse_rows(rows: list[tuple[int, list[str]]]) -> list[ItemRow]:
    """Validate every row (a blank 督查项目 continues the one above, as in merged cells); raise with all errors."""
    errors: list[dict] = []
    if not rows:
        raise ChecklistImportFailed("the file is empty", [{"line": 1, "message": "no header row"}])
    header_line, header = rows[0]
    # Columns by name: attachment 1's five, and the optional 适用部位 and 牵头部门 wherever a school put them.
    where = {name: index for index, name in reversed(list(enumerate(header)))}
    if any(name not in where for name in HEADERS):
        raise ChecklistImportFailed("the header row does not match attachment 1", [
            {"line": header_line, "message": f"expected columns {' | '.join(HEADERS)}, got {' | '.join(header[:5])}"}])
    order = [*HEADERS, LOCATIONS_HEADER, LEAD_HEADER]
    picks = [where.get(name) for name in order]
    items: list[ItemRow] = []
    seen: dict[tuple[str, int], int] = {}
    category = ""
    for line, cells in rows[1:]:
        if not any(cells):
            continue
        cells = [cells[i] if i is not None and i < len(cells) else "" for i in picks]
        if cells[0] == "督查项目" or cells[0].startswith("备注"):
            continue  # a repeated header on a new page, or the closing 备注 row of the form
        problems = []
        category = cells[0] or category
        if not category:
            problems.append("督查项目 is empty and there is no row above to continue")
        try:
            serial = int(float(cells[1]))
            if serial < 1:
                raise ValueError
        except ValueError:
            serial = 0
            problems.append(f"序号 {cells[1]!r} is not a positive whole number")
        if not cells[2]:
            problems.append("督查内容 is empty")
        methods = _split(cells[3])
        bad = [m for m in methods if m not in CHECK_METHODS]
        if not methods or bad:
            problems.append(f"督查方法 must be one or more of {'/'.join(CHECK_METHODS)}, got {cells[3]!r}")
        units = _split(cells[4])
        if not units:
            problems.append("责任部门 is empty")
        if serial and category and (category, serial) in seen:
            problems.append(f"{category} 序号 {serial} repeats line {seen[(category, serial)]}")
        for message in problems:
            errors.append({"line": line, "message": message})
        if not problems:
            seen[(category, serial)] = line
            items.append(ItemRow(line, category, serial, cells[2], methods, units, _split(cells[5]),
                                 cells[6][:100] or None))
    if len(items) + len({e["line"] for e in errors}) > MAX_ROWS:
        errors.append({"line": rows[-1][0], "message": f"more than {MAX_ROWS} items"})
    if not errors and not items:
        errors.append({"line": header_line, "message": "the file has no items"})
    if errors:
        lines = sorted({e["line"] for e in errors})
        raise ChecklistImportFailed(f"{len(lines)} bad row(s), lines {', '.join(map(str, lines[:20]))}; nothing imported",
                                    errors)
    return items


def import_checklist(s: Session, source: bytes, filename: str, name: str, now, user_id: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> ChecklistTemplate:
    """Create a template from a file in the caller's transaction; every row is checked before anything is added."""
    items = parse_rows(read_rows(source, filename))
    if s.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.name == name)) is not None:
        raise ChecklistImportFailed(f"a checklist named {name!r} already exists",
                                    [{"line": 0, "message": "choose another name"}])
    template = ChecklistTemplate(name=name, source=Path(filename).name, created_at=now, created_by_id=user_id)
    s.add(template)
    for position, row in enumerate(items, start=1):
        template.items.append(ChecklistItem(position=position, category=row.category, serial=row.serial,
                                            content=row.content, methods=row.methods, units=row.units,
                                            locations=row.locations, lead_unit=row.lead))
        if progress is not None and (position % 50 == 0 or position == len(items)):
            progress(position, len(items))
    s.flush()
    return template


def add_checklist(services, source: bytes, filename: str, name: str, user_id: int | None = None,
                  keep_existing: bool = False, progress: Callable[[int, int], None] | None = None) -> ChecklistTemplate:
    """Import a checklist file as a new template in one unit of work: every row, or nothing.

    A name already taken is refused on the `name` field; with keep_existing the template of that name is returned
    instead (loading a shipped checklist: whoever commits first wins, a concurrent loader gets the winner's).
    """
    for _attempt in range(2):
        try:
            with services.uow() as uow:
                s = uow.session
                existing = s.scalars(select(ChecklistTemplate).where(ChecklistTemplate.name == name)).first()
                if existing is not None and keep_existing:
                    existing.items  # noqa: B018  (loaded now: callers read them after the session closes)
                    return existing
                if existing is not None:
                    raise _name_taken(name)
                template = import_checklist(s, source, filename, name, services.clock.now(), user_id, progress)
                uow.commit()
                return template
        except IntegrityError:  # the same name committed meanwhile (the names are unique)
            if not keep_existing:
                raise _name_taken(name) from None
    raise NotFound(f"checklist {name} could not be loaded")


def _name_taken(name: str) -> InvalidFormData:
    message = f"a checklist named {name!r} already exists"
    return InvalidFormData(f"name: {message}", [{"field": "name", "message": message}])


def export_rows(template: ChecklistTemplate, extra_columns: bool = False) -> Iterable[list]:
    """The template as attachment 1 rows (a category written once, on its first line, as in the seed's merged cells).

    Attachment 1 has five columns; `extra_columns` adds the school's own 适用部位 and 牵头部门 (so a re-import
    keeps them)."""
    yield [*HEADERS, LOCATIONS_HEADER, LEAD_HEADER] if extra_columns else list(HEADERS)
    previous = None
    for item in template.items:
        row = [item.category if item.category != previous else "", item.serial, item.content,
               " ".join(item.methods), " ".join(item.units)]
        yield [*row, " ".join(item.locations or []), item.lead_unit or ""] if extra_columns else row
        previous = item.category


def export_checklist(s: Session, template_id: int, fmt: str, extra_columns: bool = False) -> bytes:
    """A template as CSV (UTF-8 with BOM, so Excel opens it) or XLSX bytes, in attachment 1's five columns unless
    `extra_columns` asks for 适用部位 and 牵头部门 too."""
    template = get_template(s, template_id)
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(csv_safe_row(row) for row in export_rows(template, extra_columns))
        return out.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "项目清单"
        for row in export_rows(template, extra_columns):
            sheet.append(safe_row(sheet, row))
        for column, width in zip("ABCDEFG", (16, 6, 60, 18, 30, 24, 16)):
            sheet.column_dimensions[column].width = width
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def get_template(s: Session, template_id: int) -> ChecklistTemplate:
    """A template with its items, or NotFound."""
    template = s.get(ChecklistTemplate, template_id)
    if template is None:
        raise NotFound(f"checklist {template_id} does not exist")
    return template


def list_templates(s: Session) -> list[tuple[ChecklistTemplate, int]]:
    """Every template with its item count."""
    templates = list(s.scalars(select(ChecklistTemplate).order_by(ChecklistTemplate.id)))
    return [(t, len(t.items)) for t in templates]


def shipped_checklists(bpmn_dir: Path) -> list[Path]:
    """The template files shipped with the diagrams (built from the seed notices)."""
    return sorted((Path(bpmn_dir) / "checklists").glob("*.csv"))


def load_shipped(s: Session, bpmn_dir: Path, now) -> list[ChecklistTemplate]:
    """Import every shipped template that is not there yet (named after its file)."""
    loaded = []
    for path in shipped_checklists(bpmn_dir):
        existing = s.scalars(select(ChecklistTemplate).where(ChecklistTemplate.name == path.stem)).first()
        loaded.append(existing or import_checklist(s, path.read_bytes(), path.name, path.stem, now))
    return loaded


# The unit groups a checklist's 责任部门 may name, by the units' type (OrgNode.unit_type).
UNIT_GROUPS = {"各二级学院": "college", "各学院": "college", "机关各处室": "office", "各处室": "office",
               "各职能部门": "office", "各附属单位": "affiliate"}
ALL_UNITS = ("全体单位", "各单位", "各部门", "学校", "全校")


def unit_named(name: str, org: OrgNode) -> bool:
    """True when one 责任部门 entry means this unit: its name or short name, its type's group, or every unit.

    A unit whose type is not set (an older tree) still answers any 各… group, as before unit types existed."""
    if name in (org.name, org.short_name) or name in ALL_UNITS:
        return True
    if name in UNIT_GROUPS:
        return org.unit_type is None or UNIT_GROUPS[name] == org.unit_type
    return org.unit_type is None and name.startswith("各")


def item_reaches(item: ChecklistItem, org: OrgNode) -> bool:
    """Whether the item names this unit among its 责任部门 or as its 牵头部门."""
    return any(unit_named(u, org) for u in item.units) or (item.lead_unit is not None and
                                                            unit_named(item.lead_unit, org))


def items_for_unit(template: ChecklistTemplate, org: OrgNode) -> list[ChecklistItem]:
    """The items a unit answers: those naming it or a group it belongs to (各二级学院, 机关各处室, 全体单位 ...).

    An untyped unit that no item names answers every item (the rule before unit types); a typed one only its own."""
    mine = [i for i in template.items if item_reaches(i, org)]
    return mine if mine or org.unit_type is not None else list(template.items)
