"""Printable cards: a QR code of a link and a one-page PDF, drawn on the server (segno, fpdf2). Knows nothing
of referrals: the caller hands it the lines to print.

Decisions worth knowing:

* The QR code is drawn from segno's module matrix as filled vector squares: no image file, no third party,
  and it stays sharp at any printer resolution.
* The page is A4 portrait, folded once along the dashed line: the top half is the outside (what anyone who
  picks the card up sees), the bottom half the inside.
* The PDF uses a core font (Helvetica), which knows only Latin-1. Text outside it is transliterated (accents
  dropped, "ł" becomes "l") and what has no Latin form becomes "?", so a name in any script never stops a
  card from printing; the HTML card shows every name as typed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import segno
from fpdf import FPDF

# The error correction level: 'M' survives a crease or a smudge across the code (15% of it).
_ERROR = "m"
_QUIET_ZONE = 4  # modules of white around the code, as the standard asks
# Letters the Unicode decomposition leaves alone but that have an obvious Latin-1 spelling.
_SPELLED = str.maketrans({
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "\u0131": "i", "œ": "oe", "Œ": "OE", "ŋ": "ng", "ħ": "h",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...",
    "\u00a0": " ",
})


def qr_svg(url: str) -> str:
    """The link as an inline <svg> QR code (for an HTML page; it carries no style attribute)."""
    return segno.make(url, error=_ERROR).svg_inline(scale=5, border=_QUIET_ZONE, omitsize=True,
                                                    title="QR code of the link")


def latin1(text: str) -> str:
    """The text in Latin-1 letters, for a core PDF font: accents dropped where needed, the rest as "?"."""
    out = []
    for ch in text.translate(_SPELLED):
        if ord(ch) < 256:
            out.append(ch)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(plain if plain and all(ord(c) < 256 for c in plain) else "?")
    return "".join(out)


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code of `url` as filled squares, its quiet zone included in `size` (mm)."""
    matrix = segno.make(url, error=_ERROR).matrix
    modules = len(matrix) + 2 * _QUIET_ZONE
    step = size / modules
    pdf.set_fill_color(0, 0, 0)
    for row_index, row in enumerate(matrix):
        top = y + (row_index + _QUIET_ZONE) * step
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            start = column
            while column < len(row) and row[column]:
                column += 1
            # One rectangle per run of dark modules: fewer objects, no hairline gaps between neighbours.
            pdf.rect(x + (start + _QUIET_ZONE) * step, top, (column - start) * step, step, style="F")


def card_pdf(outside: Sequence[str], inside: Sequence[str], url: str, *, small_print: str = "") -> bytes:
    """A one-page PDF: the outside lines, the QR code of `url` and `url` in letters on the top half; the inside
    lines on the bottom half, and `small_print` at its foot. The first line of each half is set larger."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    width = pdf.w - 40
    half = pdf.h / 2

    pdf.set_xy(20, 22)
    for index, line in enumerate(outside):
        pdf.set_font("Helvetica", "B" if index == 0 else "", 16 if index == 0 else 12)
        pdf.multi_cell(width, 7, latin1(line), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    size = 70.0
    top = pdf.get_y() + 4
    _draw_qr(pdf, url, (pdf.w - size) / 2, top, size)
    pdf.set_xy(20, top + size + 3)
    pdf.set_font("Courier", "", 10)
    pdf.multi_cell(width, 5, latin1(url), align="C", new_x="LMARGIN", new_y="NEXT")

    # The fold.
    pdf.set_draw_color(150, 150, 150)
    pdf.set_dash_pattern(dash=2, gap=2)
    pdf.line(10, half, pdf.w - 10, half)
    pdf.set_dash_pattern()

    pdf.set_xy(20, half + 14)
    for index, line in enumerate(inside):
        if pdf.get_y() > pdf.h - 20:
            break  # the card has one page: what does not fit is on the HTML card and behind the link
        pdf.set_font("Helvetica", "B" if index == 0 else "", 14 if index == 0 else 11)
        pdf.multi_cell(width, 6, latin1(line), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    if small_print:
        pdf.set_xy(20, pdf.h - 16)
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(width, 4, latin1(small_print), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
