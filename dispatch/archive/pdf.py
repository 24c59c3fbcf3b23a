"""A ticket's record printed as PDF (A4, Chinese first with English labels),
drawn from the record's plain data alone, in the stickers' embedded CJK font."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas as pdfcanvas

from dispatch.archive.record import (
    Entry,
    Fact,
    Labels,
    Picture,
    both,
    record_rows,
)
from printables.stickers import MM, PAPER_SIZES, pdf_font, text_width_mm, wrap_text

PAGE_MM = PAPER_SIZES["a4"]
MARGIN_MM = 18.0
LABEL_MM = 42.0  # the width of a fact's label column
BODY_PT, SMALL_PT, HEADING_PT, TITLE_PT = 9.5, 8.0, 12.0, 16.0
PITCH = 1.45  # line pitch as a multiple of the font size
PHOTO_MM = (80.0, 70.0)  # the largest a photo is drawn, width × height
GAP_MM = 4.0


class _Page:
    """A cursor down A4 pages: text that wraps, new pages as they fill."""

    def __init__(self, pdf: pdfcanvas.Canvas, footer: str) -> None:
        self.pdf, self.footer, self.font = pdf, footer, pdf_font()
        self.width = PAGE_MM[0] - 2 * MARGIN_MM
        self.page = 0
        self._new_page()

    def _new_page(self) -> None:
        if self.page:
            self.pdf.showPage()
        self.page += 1
        self.y = MARGIN_MM
        self.pdf.setFont(self.font, SMALL_PT)
        self.pdf.setFillGray(0.45)
        self.pdf.drawRightString(
            (PAGE_MM[0] - MARGIN_MM) * MM,
            (MARGIN_MM / 2) * MM,
            f"{self.footer} · {self.page}",
        )
        self.pdf.setFillGray(0)

    def room(self, height_mm: float) -> None:
        """Starts a new page unless height_mm still fits on this one."""
        if self.y + height_mm > PAGE_MM[1] - MARGIN_MM:
            self._new_page()

    def text(
        self, text: str, size: float, x_mm: float = 0.0, gray: float = 0.0
    ) -> None:
        """Prints text wrapped to the page from x_mm, line under line."""
        width = self.width - x_mm
        for line in _lines(text, width, size):
            pitch = size * PITCH / MM
            self.room(pitch)
            self.y += pitch
            self.pdf.setFillGray(gray)
            self.pdf.setFont(self.font, size)
            self.pdf.drawString(
                (MARGIN_MM + x_mm) * MM, (PAGE_MM[1] - self.y) * MM, line
            )
        self.pdf.setFillGray(0)

    def fact(self, label: str, value: str) -> None:
        """Prints a label in its column and the value wrapped beside it."""
        lines = _lines(value, self.width - LABEL_MM, BODY_PT)
        pitch = BODY_PT * PITCH / MM
        self.room(pitch)
        top = self.y
        labels = wrap_text(label, LABEL_MM - 2, SMALL_PT)
        for index, line in enumerate(lines):
            self.room(pitch)
            self.y += pitch
            if index == 0:
                top = self.y
            self.pdf.setFont(self.font, BODY_PT)
            self.pdf.drawString(
                (MARGIN_MM + LABEL_MM) * MM, (PAGE_MM[1] - self.y) * MM, line
            )
        self.pdf.setFillGray(0.35)
        self.pdf.setFont(self.font, SMALL_PT)
        for index, line in enumerate(labels[:2]):
            self.pdf.drawString(
                MARGIN_MM * MM,
                (PAGE_MM[1] - top - index * SMALL_PT * 1.2 / MM) * MM,
                line,
            )
        self.pdf.setFillGray(0)
        self.y = max(self.y, top + (len(labels[:2]) - 1) * SMALL_PT * 1.2 / MM)

    def space(self, mm: float) -> None:
        self.y += mm


def _lines(text: str, width_mm: float, size: float) -> list[str]:
    # Most lines fit as they are: measured once instead of word by word.
    if "\n" not in text and text_width_mm(text.strip(), size) <= width_mm:
        return [text.strip()]
    return wrap_text(text, width_mm, size) or [""]


def render_record(
    record: dict[str, Any],
    labels: Labels,
    photo_bytes: Callable[[str], bytes | None],
) -> bytes:
    """Returns the record as a PDF; photo_bytes(sha256) gives a display copy's
    JPEG (the same file the archive holds) or None when it has none."""
    buffer = io.BytesIO()
    # invariant: no creation date or random document id, so the same record
    # always prints the same bytes and an archive can be made again and compared.
    pdf = pdfcanvas.Canvas(
        buffer,
        pagesize=(PAGE_MM[0] * MM, PAGE_MM[1] * MM),
        pageCompression=1,
        invariant=1,
        initialFontName=pdf_font(),
    )
    number = record["number"]
    community = record["community"]
    pdf.setTitle(f"{number} 维修档案 / Repair record")
    pdf.setAuthor("RepairDesk")
    page = _Page(pdf, f"{community['name']} {number}")
    page.text(f"{community['name']} · 维修档案", TITLE_PT)
    subtitle = f"{community['name_en'] or community['slug']} · Repair record"
    page.text(subtitle, BODY_PT, gray=0.35)
    page.text(number, HEADING_PT)
    page.text(f"时区 Time zone: {community['timezone']}", SMALL_PT, gray=0.35)
    for title, rows in record_rows(record, labels):
        page.space(GAP_MM)
        page.room(HEADING_PT * PITCH / MM * 3)
        page.text(both(title), HEADING_PT)
        page.space(1.0)
        if not rows:
            page.text("—", BODY_PT, gray=0.35)
        pictures = [row for row in rows if isinstance(row, Picture)]
        for row in rows:
            if isinstance(row, Fact):
                page.fact(both(row.label), row.value)
            elif isinstance(row, Entry):
                page.room(BODY_PT * PITCH / MM * 2)
                page.text(f"{row.when or ''}  {both(row.title)}".strip(), BODY_PT)
                for line in row.lines:
                    page.text(line, SMALL_PT, x_mm=6.0, gray=0.3)
                page.space(1.0)
        if pictures:
            page.space(2.0)
            _draw_pictures(page, pictures, photo_bytes)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _draw_pictures(
    page: _Page,
    pictures: list[Picture],
    photo_bytes: Callable[[str], bytes | None],
) -> None:
    # Two photos side by side, each scaled into PHOTO_MM, its caption under it.
    for start in range(0, len(pictures), 2):
        pair = pictures[start : start + 2]
        sizes = [_fitted(p) for p in pair]
        height = max(h for _, h in sizes) + 2 * SMALL_PT * PITCH / MM + 2
        page.room(height)
        top = page.y
        for index, (picture, (w, h)) in enumerate(zip(pair, sizes, strict=True)):
            x = MARGIN_MM + index * (PHOTO_MM[0] + GAP_MM)
            data = photo_bytes(picture.sha256) if picture.available else None
            bottom = PAGE_MM[1] - top - h
            if data:
                page.pdf.drawImage(
                    ImageReader(io.BytesIO(data)), x * MM, bottom * MM, w * MM, h * MM
                )
            else:
                page.pdf.setStrokeGray(0.6)
                page.pdf.rect(x * MM, bottom * MM, w * MM, h * MM)
                page.pdf.setFont(page.font, SMALL_PT)
                page.pdf.drawString(
                    (x + 2) * MM,
                    (bottom + h / 2) * MM,
                    "照片不可用 Photo not available",
                )
            page.pdf.setFont(page.font, SMALL_PT)
            page.pdf.setFillGray(0.3)
            caption = wrap_text(picture.caption, PHOTO_MM[0], SMALL_PT)
            for line_no, line in enumerate(caption[:2]):
                page.pdf.drawString(
                    x * MM,
                    (bottom - (line_no + 1) * SMALL_PT * PITCH / MM) * MM,
                    line,
                )
            page.pdf.setFillGray(0)
        page.y = top + height + GAP_MM


def _fitted(picture: Picture) -> tuple[float, float]:
    width, height = max(picture.width, 1), max(picture.height, 1)
    scale = min(PHOTO_MM[0] / width, PHOTO_MM[1] / height)
    return width * scale, height * scale
