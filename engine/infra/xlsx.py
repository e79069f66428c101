"""Excel cells that hold what a user typed as text: never a formula, whatever it starts with."""
from __future__ import annotations

from openpyxl.cell import WriteOnlyCell

# What Excel and LibreOffice read as the start of a formula (or of DDE) when a cell holds it as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_safe(sheet, value):
    """The value for a row of `sheet`: a string that would be taken for a formula becomes a plain-text cell."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # openpyxl guessed "f" from the leading "="; the text is kept exactly as typed
        return cell
    return value


def safe_row(sheet, values) -> list:
    """A row for `sheet.append`, every user string kept as text."""
    return [text_safe(sheet, v) for v in values]
