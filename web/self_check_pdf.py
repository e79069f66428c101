"""The unit self-check report (自查报告) as an A4 PDF, built in memory with ReportLab for the pages and the API.

The Chinese text uses ReportLab's built-in CID font STSong-Light (Adobe's Song face, which every PDF reader supplies),
so neither the server nor the file needs a font installed or embedded. Every string a user typed goes through
`escape` first: ReportLab's Paragraph reads its text as markup.
"""
from __future__ import annotations

import io
from urllib.parse import quote
from xml.sax.saxutils import escape

from flask import Response
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from engine.campaigns.self_check_report import SelfCheckReport
from web.templating import GRADE_LABELS, RESULT_LABELS, STAGE_LABELS, china_time, label

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

_BODY = ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=15, wordWrap="CJK")
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=9, leading=12)
_TITLE = ParagraphStyle("title", parent=_BODY, fontSize=18, leading=26, alignment=TA_CENTER)
_SUB = ParagraphStyle("sub", parent=_BODY, fontSize=12, leading=18, alignment=TA_CENTER)
_HEAD = ParagraphStyle("head", parent=_BODY, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
_GRID = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))])


def _p(text, style: ParagraphStyle = _CELL) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _table(head: list[str], rows: list[list], widths: list[float]) -> Table:
    table = Table([[_p(h) for h in head], *[[_p(c) for c in row] for row in rows]], colWidths=[w * mm for w in widths],
                  repeatRows=1)
    table.setStyle(_GRID)
    return table


def report_pdf(report: SelfCheckReport) -> bytes:
    """The report as PDF bytes, in the request's language."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"{report.unit} {_('自查报告')}", author=report.school)
    story = [_p(report.school, _SUB), _p(f"{report.unit} {_('自查报告')}", _TITLE), _p(report.campaign_title, _SUB),
             Spacer(1, 4 * mm),
             _p(_("已答 %(a)s / 应答 %(r)s 项；发现隐患 %(n)s 项", a=report.answered, r=report.required,
                  n=len(report.hazards)), _BODY),
             _p(_("一、检查内容及结果"), _HEAD)]
    story.append(_table(
        [_("督查项目"), _("序号"), _("督查内容"), _("检查结果"), _("部位"), _("说明")],
        [[a.category, a.serial, a.content, label(RESULT_LABELS, a.result) if a.result else _("未填报"), a.location,
          a.note] for a in report.answers],
        [24, 10, 62, 22, 26, 30]))
    story.append(_p(_("二、发现的隐患"), _HEAD))
    if report.hazards:
        story.append(_table(
            [_("编号"), _("部位"), _("存在隐患问题"), _("隐患等级"), _("整改期限"), _("状态")],
            [[h.serial, h.location, h.problem, label(GRADE_LABELS, h.grade) if h.grade else _("待评估"),
              china_time(h.deadline), label(STAGE_LABELS, h.status)] for h in report.hazards],
            [12, 30, 70, 20, 22, 20]))
    else:
        story.append(_p(_("本次自查未发现隐患。"), _BODY))
    story.append(_p(_("三、签字上报"), _HEAD))
    if report.signature:
        sig = report.signature
        # User text is appended to the label, never interpolated into `_()` (whose result may be Markup).
        story.append(_p(_("签字人：") + sig.signer_name + "　" + _("签字时间：") + china_time(sig.at), _BODY))
        if sig.opinion:
            story.append(_p(_("意见：") + sig.opinion, _BODY))
    else:
        story.append(_p(_("尚未在系统中签字上报。"), _BODY))
    story += [Spacer(1, 10 * mm),
              _p(_("负责人签字：") + "＿" * 12, _BODY), Spacer(1, 6 * mm),
              _p(_("单位盖章：") + "＿" * 12, _BODY), Spacer(1, 6 * mm),
              _p(_("日期：") + "＿" * 4 + _("年") + "＿" * 2 + _("月") + "＿" * 2 + _("日"), _BODY)]
    doc.build(story)
    return buffer.getvalue()


def pdf_response(report: SelfCheckReport) -> Response:
    """The report PDF as a download named after the unit."""
    response = Response(report_pdf(report), mimetype="application/pdf")
    name = f"{report.unit}-{_('自查报告')}.pdf"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response
