"""Cells for every CSV Tollgate writes, made safe to open in a spreadsheet.

OWASP's CSV injection defence (https://owasp.org/www-community/attacks/CSV_Injection): a text
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets, so it gets a leading apostrophe and stays text. Only text
cells: numbers (counts, amounts) are written as they are, so a legitimate negative number stays
a number a spreadsheet can add up.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def safe_row(row: Iterable[object]) -> list[object]:
    return [neutralise(cell) for cell in row]
