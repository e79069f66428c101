"""The campaign pages' forms: new-campaign defaults and checks, and a unit's checklist answers, errors by field."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from engine.campaigns import checklists
from engine.campaigns.models import SUPERVISED_BY, ChecklistItem, ItemResult
from engine.campaigns.queries import template_counts
from engine.campaigns.service import STAGE_KEYS, parse_report_dates, situation_report_due, stage_windows
from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from web.pages.forms_render import form_errors
from web.templating import RESULT_LABELS

# Shipped templates (bpmn/checklists/<stem>.csv) under the names people know them by, and the title they suggest.
SHIPPED_TITLES = {
    "seed000_eight_areas": (_l("校园安全隐患大排查大整治（八个方面）"), _l("校园安全隐患大排查大整治")),
    "seed001_twelve_areas": (_l("校园安全专项整治（十二项整治重点）"), _l("校园安全专项整治")),
    "seed002_look_back": (_l("学校安全问题专项整治“回头看”项目清单"), _l("学校安全问题专项整治“回头看”")),
    "seed003_twelve_items": (_l("安全隐患排查整治（十二项重点排查内容）"), _l("安全隐患排查整治")),
}
PREFERRED_TEMPLATE = "seed001_twelve_areas"
SHIPPED_PREFIX = "shipped:"
# Proposed stage windows, in days from today: seed 001 gives a week or two for the self-check, a month for
# rectification and two weeks for supervision; statistics are reported every two weeks (seed 001: 4 dates).
DEFAULT_DAYS = {"self_check": (0, 14), "joint_inspection": (15, 21), "rectification": (15, 45),
                "supervision": (46, 60)}
DEFAULT_REPORT_DAYS = (14, 28, 42, 56)
REPORT_DATE_SLOTS = 6
MAX_TITLE = 200
MAX_NOTE = 1000


@dataclass
class TemplateChoice:
    """A checklist the new-campaign form offers: loaded (value = its id) or shipped but not loaded yet."""

    value: str
    name: str
    label: str
    count: int
    title: str
    shipped_path: Path | None = None


def template_choices(s: Session, bpmn_dir: Path) -> list[TemplateChoice]:
    """Loaded templates, then shipped ones not loaded yet (loaded when a campaign first uses them)."""
    choices, names = [], set()
    for template, count in template_counts(s):
        label, title = SHIPPED_TITLES.get(template.name, (template.name, template.name))
        choices.append(TemplateChoice(str(template.id), template.name, str(label), count, str(title)))
        names.add(template.name)
    for path in checklists.shipped_checklists(bpmn_dir):
        if path.stem in names:
            continue
        try:
            count = len(checklists.parse_rows(checklists.read_rows(path.read_bytes(), path.name)))
        except RectiflowError:
            continue  # a broken shipped file is reported by `rectiflow checklist load-shipped`, not offered here
        label, title = SHIPPED_TITLES.get(path.stem, (path.stem, path.stem))
        choices.append(TemplateChoice(SHIPPED_PREFIX + path.stem, path.stem, str(label), count, str(title), path))
    return choices


def default_values(choices: list[TemplateChoice], units: list, today: date) -> dict:
    """A campaign someone can start at once: the seed 001 checklist, every unit ticked, stages from today."""
    choice = next((c for c in choices if c.name == PREFERRED_TEMPLATE), choices[0] if choices else None)
    stages = {key: {"start": (today + timedelta(days=a)).isoformat(), "end": (today + timedelta(days=b)).isoformat()}
              for key, (a, b) in DEFAULT_DAYS.items()}
    reports = [(today + timedelta(days=d)).isoformat() for d in DEFAULT_REPORT_DAYS]
    return {"title": _("%(year)s年%(title)s", year=today.year, title=choice.title) if choice else "",
            "template": choice.value if choice else "", "unit_ids": [u.id for u in units], "stages": stages,
            "chosen": list(STAGE_KEYS), "situation_report_due": stages["self_check"]["end"],
            "supervised_by": "bureau", "report_dates": _slots(reports), "whole_schools": False}


def _slots(values: list[str]) -> list[str]:
    return values + [""] * max(0, REPORT_DATE_SLOTS - len(values))


def parse_create_form(form) -> dict:
    """The submitted new-campaign form as values the page can redraw (nothing dropped, nothing converted yet)."""
    unit_ids = [int(v) for v in form.getlist("unit_ids") if v.isdigit()]
    stages = {key: {part: (form.get(f"stages.{key}.{part}") or "").strip() for part in ("start", "end")}
              for key in STAGE_KEYS}
    reports = [v.strip() for v in form.getlist("report_dates")]
    if form.get("stage_choice") == "1":  # the form's 本次包括 boxes (the self-check always)
        chosen = [k for k in STAGE_KEYS if k == "self_check" or form.get(f"stages.{k}.on") == "1"]
    else:  # a form without them: the stages given a date
        chosen = [k for k in STAGE_KEYS if k == "self_check" or any(stages[k].values())]
    return {"title": (form.get("title") or "").strip(), "template": (form.get("template") or "").strip(),
            "unit_ids": unit_ids, "stages": stages, "chosen": chosen,
            "situation_report_due": (form.get("situation_report_due") or "").strip(),
            "supervised_by": (form.get("supervised_by") or "bureau").strip(), "report_dates": _slots(reports),
            "whole_schools": form.get("whole_schools") == "1"}


def engine_stages(values: dict) -> dict:
    """The `stages` dict create_campaign takes: the chosen stages' windows (blank starts left out, so they default
    as the engine says), the report dates and the situation report's due date."""
    stages = {key: {part: v for part, v in window.items() if v} for key, window in values["stages"].items()
              if key in values["chosen"]}
    stages["report_dates"] = [v for v in values["report_dates"] if v]
    if values.get("situation_report_due"):
        stages["situation_report_due"] = values["situation_report_due"]
    return stages


def create_errors(values: dict, choices: list[TemplateChoice], unit_ids: set[int], now: datetime,
                  today: date) -> dict[str, str]:
    """Every problem with the new-campaign form, by field name (empty when it may be submitted)."""
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = _("此项为必填项")
    elif len(values["title"]) > MAX_TITLE:
        errors["title"] = _("内容过长（最多 %(n)s 字）", n=MAX_TITLE)
    if values["template"] not in {c.value for c in choices}:
        errors["template"] = _("请选择检查清单")
    if not values["unit_ids"]:
        errors["unit_ids"] = _("请至少选择一个单位")
    elif not set(values["unit_ids"]) <= unit_ids:
        errors["unit_ids"] = _("所选单位不在组织范围内")
    stages = engine_stages(values)
    ends, starts, stage_errors = stage_windows(stages, now, values["chosen"])
    _raw, report_errors = parse_report_dates(values["report_dates"])
    _due, due_errors = situation_report_due(stages, starts, ends)
    if values.get("supervised_by", "bureau") not in SUPERVISED_BY:
        errors["supervised_by"] = _("请从列表中选择")
    for detail in stage_errors + report_errors + due_errors:
        errors.setdefault(detail["field"], engine_message(detail["message"]))
    for key, end in ends.items():
        if end < today:
            errors.setdefault(f"stages.{key}.end", _("截止日期不能早于今天"))
    return errors


def engine_message(message: str) -> str:
    """A stage or unit error of the engine (English, for the API and logs) in the page's language."""
    if message == "required":
        return _("此项为必填项")
    if "YYYY-MM-DD" in message:
        return _("请输入有效日期（年-月-日）")
    if "starts after it ends" in message:
        return _("开始日期不能晚于截止日期")
    if "before the self-check starts" in message:
        return _("不能早于自查阶段开始日期")
    if "no supervision stage" in message:
        return _("本次专项整治不含督导检查阶段")
    if "no 牵头部门" in message:
        return _("所选检查清单没有列出本校的牵头部门，请改由上级教育局督导或选择列有牵头部门的清单")
    if "at least one unit" in message:
        return _("请至少选择一个单位")
    if "is not within" in message or message.startswith("not under "):
        return _("所选单位不在组织范围内")
    if "period ends before it starts" in message:
        return _("截止日期不能早于开始日期")
    return message


def stage_error(errors: dict, key: str) -> str | None:
    """The first error about one stage's window, wherever the engine put it."""
    return next((errors[f] for f in (f"stages.{key}", f"stages.{key}.start", f"stages.{key}.end") if f in errors),
                None)


# -- a unit's checklist ----------------------------------------------------------------------------------------
def hazard_category(item_category: str, options: list[str]) -> str:
    """A hazard category guessed from the item's 督查项目 (消防安全整治 → 消防); 其他 when nothing fits."""
    for option in options:
        if any(part and part in item_category for part in option.split("/")):
            return option
    for option in options:  # 食品安全整治 → 食品卫生: the first two characters, but not the generic 安全
        if any(part[:2] in item_category for part in option.split("/") if len(part) >= 2 and part[:2] != "安全"):
            return option
    return "其他" if "其他" in options else (options[-1] if options else "")


def parse_answers(form, items: list[ChecklistItem]) -> dict[int, dict]:
    """The submitted answer of every item, as typed (kept for redrawing the page after an error)."""
    answers = {}
    for item in items:
        answers[item.id] = {name: (form.get(f"{name}-{item.id}") or "").strip()
                            for name in ("result", "note", "problem", "location", "category")}
    return answers


def answer_rows(answers: dict[int, dict], items: list[ChecklistItem], existing: dict[int, list[ItemResult]],
                schema: dict | None, now: datetime) -> tuple[list[dict], dict[str, str]]:
    """The rows for record_item_results (only new or changed answers) and the errors by field, e.g. problem-12."""
    rows, errors, today = [], {}, now.astimezone(CHINA).date()
    for item in items:
        answer = answers[item.id]
        result, note = answer["result"], answer["note"]
        if not result:
            continue
        if result not in RESULT_LABELS:
            errors[f"result-{item.id}"] = _("请从列表中选择")
            continue
        if len(note) > MAX_NOTE:
            errors[f"note-{item.id}"] = _("内容过长（最多 %(n)s 字）", n=MAX_NOTE)
            continue
        whole = next((r for r in existing.get(item.id, []) if r.location == ""), None)
        if result != "hazard" and whole is not None and whole.result == "hazard":
            # Overwriting it would unlink the hazard from its checklist item.
            errors[f"result-{item.id}"] = _("本项已登记隐患，不能改为其他结论")
            continue
        if result != "hazard":
            if whole is None or whole.result != result or (whole.note or "") != note:
                rows.append({"item_id": item.id, "result": result, "note": note or None})
            continue
        hazard = {"location": answer["location"], "problem": answer["problem"], "category": answer["category"],
                  "check_item": item.content[:500], "source": "self_check", "checked_at": today.isoformat()}
        found = form_errors(schema, {k: v for k, v in hazard.items() if v}, now=now)
        for name in ("problem", "location", "category"):
            if name in found:
                errors[f"{name}-{item.id}"] = found[name]
        if answer["location"] and any(r.location == answer["location"] and r.result == "hazard"
                                      for r in existing.get(item.id, [])):
            errors.setdefault(f"location-{item.id}", _("该部位已登记过本项隐患"))
        if not any(k.endswith(f"-{item.id}") for k in errors):
            rows.append({"item_id": item.id, "result": "hazard", "location": answer["location"], "note": note or None,
                         "hazard": {"problem": answer["problem"], "category": answer["category"],
                                    "checked_at": today.isoformat()}})
    return rows, errors


def drawn_answers(items: list[ChecklistItem], existing: dict[int, list[ItemResult]], categories: list[str],
                  typed: dict[int, dict] | None = None) -> dict[int, dict]:
    """What each item's controls show: what was just typed, else the unit-wide answer on record."""
    drawn = {}
    for item in items:
        if typed is not None:
            drawn[item.id] = dict(typed[item.id])
        else:
            whole = next((r for r in existing.get(item.id, []) if r.location == ""), None)
            drawn[item.id] = {"result": whole.result if whole and whole.result != "hazard" else "",
                              "note": (whole.note or "") if whole and whole.result != "hazard" else "",
                              "problem": "", "location": "", "category": ""}
        drawn[item.id]["category"] = drawn[item.id]["category"] or hazard_category(item.category, categories)
    return drawn
