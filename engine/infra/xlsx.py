"""Spreadsheet cells that hold what a user typed as text: never a formula, whatever it starts with.

Excel files keep the text exactly (the cell is typed as a string, so a re-import reads the same text back). A CSV
file has no cell types, so a text that would start a formula gets a leading apostrophe (OWASP's advice), which
`csv_text` takes off again when such a file is imported.
"""
from __future__ import annotations

from openpyxl.cell import WriteOnlyCell

# What Excel and LibreOffice read as the start of a formula (or of DDE) when a cell holds it as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_GUARD = "'"


def _formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def text_cell(sheet, value):
    """A cell of `sheet` (to style, then append) holding `value`; a string stays text whatever it starts with."""
    cell = WriteOnlyCell(sheet, value=value)
    if _formula_like(value):
        cell.data_type = "s"  # openpyxl guessed "f" from the leading "="; the text is kept exactly as typed
    return cell


def text_safe(sheet, value):
    """The value for a row of `sheet`: a string that would be taken for a formula becomes a plain-text cell."""
    return text_cell(sheet, value) if _formula_like(value) else value


def safe_row(sheet, values) -> list:
    """A row for `sheet.append`, every user string kept as text."""
    return [text_safe(sheet, v) for v in values]


def csv_safe_row(values) -> list:
    """A row for `csv.writer`: a string that would be taken for a formula gets the leading apostrophe."""
    return [CSV_GUARD + v if _formula_like(v) else v for v in values]


def csv_text(value: str) -> str:
    """A CSV cell as the user typed it: the apostrophe `csv_safe_row` put before a formula start is taken off.

    A text typed with an apostrophe before "=", "+", "-" or "@" loses that apostrophe on import; Excel itself
    reads such a cell the same way (the apostrophe only marks text)."""
    if value.startswith(CSV_GUARD) and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
