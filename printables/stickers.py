"""Entrance QR stickers: their layout, and rendering to PDF sheets, SVG and PNG."""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdfcanvas

MM = 72 / 25.4  # PDF points per millimetre
PT_MM = 25.4 / 72  # millimetres per point
QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 requires
MIN_MODULE_MM = 1.2  # read at arm's length in a dim stairwell
LINE_HEIGHT = 1.2  # line pitch as a multiple of the font size
BOLD_STROKE = 0.035  # outline width, as a fraction of the font size, for bold text
NBSP = "\u00a0"

# Our PDFs travel as files and over HTTP, never through 7-bit channels: their
# streams stay binary. ASCII85 (reportlab's default) is encoded in pure Python
# without the rl_accel extension: it took 40 % of an archive's time (a year's
# photos, tests/benchmarks/bench_archive.py) and makes every file 25 % larger.
rl_config.useA85 = 0

FONT_NAME = "WenQuanYiMicroHei"
# WenQuanYi Micro Hei (Apache-2.0) from the paperang-p2-fonts-cjk wheel; Debian's
# fonts-wqy-microhei ships the same file. TrueType outlines, so reportlab embeds
# a subset of it in every PDF.
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "wqy-microhei.ttc"
DEBIAN_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
SVG_FONT_FAMILY = (
    "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Source Han Sans SC', "
    "'PingFang SC', 'Microsoft YaHei', sans-serif"
)

PAPER_SIZES: dict[str, tuple[float, float]] = {
    "a4": (210.0, 297.0),
    "a5": (148.0, 210.0),
    "letter": (215.9, 279.4),
}
DEFAULT_STICKER_MM = (90.0, 120.0)

# Closing punctuation never starts a line (a simple form of the kinsoku rule).
_NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)%")


@dataclass(frozen=True)
class StickerContent:
    """Everything printed on one entrance's sticker, as plain values."""

    url: str
    location_zh: str
    location_en: str
    service_phone: str | None = None
    title_zh: str = "公共设施报修"
    title_en: str = "Report a repair"
    instruction_zh: str = "扫码拍照报修"
    instruction_en: str = "Scan the code to report a repair with a photo."
    emergency_zh: str = "紧急情况请拨打 {phone}"
    emergency_en: str = "Emergencies: call {phone}"

    def instruction_line(self, locale: str) -> str:
        """Returns the instruction in 'zh' or 'en', with the emergency phone if any."""
        if locale == "zh":
            text, emergency, joiner = self.instruction_zh, self.emergency_zh, "，"
        else:
            text, emergency, joiner = self.instruction_en, self.emergency_en, "\n"
        if not self.service_phone:
            return text
        # A phone number never breaks across lines.
        phone = self.service_phone.replace(" ", NBSP)
        return text + joiner + emergency.format(phone=phone)


@dataclass(frozen=True)
class SheetLayout:
    """How stickers are arranged on paper; all lengths in millimetres."""

    paper_mm: tuple[float, float] = PAPER_SIZES["a4"]
    sticker_mm: tuple[float, float] = DEFAULT_STICKER_MM
    margin_mm: float = 10.0
    gap_mm: float = 6.0
    cut_marks: bool = True
    outline: bool = True

    def grid(self) -> tuple[int, int]:
        """Returns (columns, rows) of stickers that fit on one page."""
        (paper_w, paper_h), (w, h) = self.paper_mm, self.sticker_mm
        cols = int((paper_w - 2 * self.margin_mm + self.gap_mm) // (w + self.gap_mm))
        rows = int((paper_h - 2 * self.margin_mm + self.gap_mm) // (h + self.gap_mm))
        if cols < 1 or rows < 1:
            raise ValueError(
                f"a {w:g}×{h:g} mm sticker does not fit on "
                f"{paper_w:g}×{paper_h:g} mm paper with {self.margin_mm:g} mm margins"
            )
        return cols, rows

    @property
    def per_page(self) -> int:
        cols, rows = self.grid()
        return cols * rows

    def slots(self) -> list[tuple[float, float]]:
        """Returns each sticker's top-left corner on the page, row by row, in mm."""
        cols, rows = self.grid()
        (paper_w, paper_h), (w, h) = self.paper_mm, self.sticker_mm
        left = (paper_w - (cols * w + (cols - 1) * self.gap_mm)) / 2
        top = (paper_h - (rows * h + (rows - 1) * self.gap_mm)) / 2
        return [
            (left + col * (w + self.gap_mm), top + row * (h + self.gap_mm))
            for row in range(rows)
            for col in range(cols)
        ]


@dataclass(frozen=True)
class TextLine:
    """One line of text: its centre x and baseline y from the top-left, in mm."""

    text: str
    x_mm: float
    baseline_mm: float
    size_pt: float
    bold: bool = False


@dataclass(frozen=True)
class StickerDrawing:
    """A sticker laid out as primitives that every renderer draws the same way."""

    width_mm: float
    height_mm: float
    qr_x_mm: float
    qr_y_mm: float
    qr_size_mm: float  # the symbol plus its quiet zone
    matrix: tuple[tuple[bool, ...], ...] = field(repr=False)
    lines: tuple[TextLine, ...]

    @property
    def module_mm(self) -> float:
        """Returns the printed size of one QR module."""
        return self.qr_size_mm / (len(self.matrix) + 2 * QUIET_ZONE)

    def module_runs(self) -> Iterable[tuple[int, int, int]]:
        """Yields (row, column, length) of each horizontal run of dark modules."""
        for row, bits in enumerate(self.matrix):
            col = 0
            while col < len(bits):
                if not bits[col]:
                    col += 1
                    continue
                start = col
                while col < len(bits) and bits[col]:
                    col += 1
                yield row, start, col - start

    def dark_runs(self) -> Iterable[tuple[float, float, float, float]]:
        """Yields (x, y, width, height) in mm of each horizontal run of dark modules."""
        module = self.module_mm
        origin_x = self.qr_x_mm + QUIET_ZONE * module
        origin_y = self.qr_y_mm + QUIET_ZONE * module
        for row, col, length in self.module_runs():
            yield (
                origin_x + col * module,
                origin_y + row * module,
                length * module,
                module,
            )


@dataclass(frozen=True)
class _Block:
    """A text block's place in the layout: a box height and a font size range."""

    text: str
    height_mm: float
    max_pt: float
    min_pt: float
    bold: bool = False


def font_path() -> Path:
    """Returns the CJK TrueType font file printed on stickers."""
    try:
        path = Path(str(resources.files(FONT_PACKAGE) / "fonts" / FONT_FILE))
    except ModuleNotFoundError:
        path = DEBIAN_FONT
    if not path.is_file():
        raise RuntimeError(
            "no CJK font for stickers: pip install paperang-p2-fonts-cjk "
            "(or apt-get install fonts-wqy-microhei)"
        )
    return path


@cache
def pdf_font() -> str:
    """Returns the CJK font's name, registered with reportlab once per process."""
    # Registered once per process: parsing the 5 MB collection takes ~0.2 s.
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path()), subfontIndex=0))
    return FONT_NAME


def text_width_mm(text: str, size_pt: float) -> float:
    """Returns the printed width of text in the sticker font at size_pt."""
    return pdfmetrics.stringWidth(text, pdf_font(), size_pt) * PT_MM


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _atoms(text: str) -> list[str]:
    # Units that stay on one line: a CJK character (with closing punctuation), a
    # Latin word or number (NBSP included, and the CJK character after a short
    # one), a space where a line may break, or a newline where it must.
    atoms: list[str] = []
    for char in text:
        previous = atoms[-1] if atoms else "\n"
        if char == "\n" or char in " \t":
            atoms.append("\n" if char == "\n" else " ")
        elif char in _NO_LINE_START and previous not in (" ", "\n"):
            atoms[-1] += char
        elif _is_wide(char) and _is_short_number_or_word(previous):
            atoms[-1] += char  # "3栋", "2单元": a number stays with its counter
        elif _is_wide(char) or previous in (" ", "\n") or _is_wide(previous[-1]):
            atoms.append(char)
        else:
            atoms[-1] += char
    return atoms


def _is_short_number_or_word(atom: str) -> bool:
    return len(atom) <= 6 and atom.isalnum() and not any(map(_is_wide, atom))


def wrap_text(text: str, width_mm: float, size_pt: float) -> list[str]:
    """Returns text broken into lines no wider than width_mm at size_pt."""
    lines: list[str] = []
    current = ""
    for atom in _atoms(text.strip()):
        if atom == "\n":
            if current.strip():
                lines.append(current.rstrip())
            current = ""
            continue
        candidate = current + atom
        if text_width_mm(candidate.rstrip(), size_pt) <= width_mm:
            current = candidate.lstrip(" ")
            continue
        if current.strip():
            lines.append(current.rstrip())
        current = "" if atom == " " else atom
        while text_width_mm(current, size_pt) > width_mm and len(current) > 1:
            # A single word wider than the line: break it between characters.
            cut = len(current) - 1
            while cut > 1 and text_width_mm(current[:cut], size_pt) > width_mm:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current.strip():
        lines.append(current.rstrip())
    return lines


def fit_text(
    text: str, width_mm: float, height_mm: float, max_pt: float, min_pt: float
) -> tuple[float, list[str]]:
    """Returns the largest size and its lines that fit the box; ellipsizes at min_pt."""
    size = max_pt
    while size >= min_pt:
        lines = wrap_text(text, width_mm, size)
        if len(lines) * size * LINE_HEIGHT * PT_MM <= height_mm:
            return size, lines
        size = round(size - 0.25, 2)
    size = min_pt
    room = max(1, int(height_mm // (size * LINE_HEIGHT * PT_MM)))
    lines = wrap_text(text, width_mm, size)[:room]
    last = lines[-1] if lines else ""
    while last and text_width_mm(last + "…", size) > width_mm:
        last = last[:-1]
    lines[-1:] = [last.rstrip() + "…"]
    return size, lines


def make_qr(url: str) -> segno.QRCode:
    """Returns a regular (never Micro) QR code for url at error level M or higher."""
    return segno.make_qr(url, error="m", boost_error=True)


def layout_sticker(
    content: StickerContent, size_mm: tuple[float, float] = DEFAULT_STICKER_MM
) -> StickerDrawing:
    """Returns the sticker laid out: titles, location, QR code, URL, instructions."""
    width, height = size_mm
    scale = min(width / DEFAULT_STICKER_MM[0], height / DEFAULT_STICKER_MM[1])
    margin = 5.0 * scale
    inner = width - 2 * margin
    top_blocks = [
        _Block(content.title_zh, 7.6 * scale, 17 * scale, 9 * scale, bold=True),
        _Block(content.title_en, 4.4 * scale, 9.5 * scale, 5 * scale),
        _Block(content.location_zh, 9.8 * scale, 15 * scale, 6 * scale, bold=True),
        _Block(content.location_en, 5.4 * scale, 9 * scale, 4.5 * scale),
    ]
    bottom_blocks = [
        _Block(content.url, 3.6 * scale, 8.5 * scale, 4.5 * scale),
        _Block(content.instruction_line("zh"), 7.4 * scale, 9.5 * scale, 5 * scale),
        _Block(content.instruction_line("en"), 6.4 * scale, 7.5 * scale, 4.5 * scale),
    ]
    top_height = margin + sum(block.height_mm for block in top_blocks)
    bottom_height = margin + sum(block.height_mm for block in bottom_blocks)
    qr_size = min(inner, height - top_height - bottom_height)
    if qr_size <= 0:
        raise ValueError(f"a {width:g}×{height:g} mm sticker is too small")
    lines: list[TextLine] = []
    y = margin
    for block in top_blocks:
        lines += _place(block, width, y, inner)
        y += block.height_mm
    qr_y = y + (height - top_height - bottom_height - qr_size) / 2
    y = height - bottom_height
    for block in bottom_blocks:
        lines += _place(block, width, y, inner)
        y += block.height_mm
    matrix = tuple(
        tuple(bool(bit) for bit in row) for row in make_qr(content.url).matrix
    )
    return StickerDrawing(
        width_mm=width,
        height_mm=height,
        qr_x_mm=(width - qr_size) / 2,
        qr_y_mm=qr_y,
        qr_size_mm=qr_size,
        matrix=matrix,
        lines=tuple(lines),
    )


def _place(block: _Block, width: float, top: float, inner: float) -> list[TextLine]:
    # Lines are centred horizontally and the group vertically within the block.
    if not block.text.strip():
        return []
    size, texts = fit_text(
        block.text, inner, block.height_mm, block.max_pt, block.min_pt
    )
    pitch = size * LINE_HEIGHT * PT_MM
    first = top + (block.height_mm - pitch * len(texts)) / 2 + pitch * 0.82
    return [
        TextLine(text, width / 2, first + index * pitch, size, block.bold)
        for index, text in enumerate(texts)
    ]


def render_pdf(
    stickers: Sequence[StickerContent],
    layout: SheetLayout = SheetLayout(),
    progress: Callable[[int], object] | None = None,
) -> bytes:
    """Returns a PDF with the stickers arranged on pages, with cut marks."""
    if not stickers:
        raise ValueError("no stickers to print")
    font = pdf_font()
    paper_w, paper_h = layout.paper_mm
    buffer = io.BytesIO()
    pdf = pdfcanvas.Canvas(
        buffer,
        pagesize=(paper_w * MM, paper_h * MM),
        pageCompression=1,
        initialFontName=font,
    )
    pdf.setTitle("公共设施报修码 / Repair QR stickers")
    pdf.setAuthor("RepairDesk")
    slots = layout.slots()
    for start in range(0, len(stickers), len(slots)):
        page = stickers[start : start + len(slots)]
        for content, (x, y) in zip(page, slots, strict=False):
            drawing = layout_sticker(content, layout.sticker_mm)
            _draw_pdf_sticker(pdf, font, drawing, x, paper_h - y, layout.outline)
            if progress:
                progress(1)
        if layout.cut_marks:
            _draw_cut_marks(pdf, layout)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _draw_pdf_sticker(
    pdf: pdfcanvas.Canvas,
    font: str,
    drawing: StickerDrawing,
    left_mm: float,
    top_mm: float,
    outline: bool,
) -> None:
    # PDF's origin is bottom-left: a point (x, y) below the sticker's top is at
    # top_mm - y on the page.
    pdf.saveState()
    if outline:
        pdf.setLineWidth(0.25)
        pdf.setStrokeGray(0.75)
        pdf.roundRect(
            left_mm * MM,
            (top_mm - drawing.height_mm) * MM,
            drawing.width_mm * MM,
            drawing.height_mm * MM,
            2 * MM,
            stroke=1,
            fill=0,
        )
    pdf.setFillGray(0)
    # The symbol is drawn in module units (one 're' per run of dark modules, with
    # y growing downwards): exact, compact, and several times faster to write than
    # reportlab's path objects.
    module = drawing.module_mm * MM
    pdf.saveState()
    pdf.transform(
        module,
        0,
        0,
        -module,
        (left_mm + drawing.qr_x_mm) * MM + QUIET_ZONE * module,
        (top_mm - drawing.qr_y_mm) * MM - QUIET_ZONE * module,
    )
    runs = "\n".join(f"{c} {r} {n} 1 re" for r, c, n in drawing.module_runs())
    pdf.addLiteral(runs + "\nf")
    pdf.restoreState()
    pdf.setStrokeGray(0)
    for line in drawing.lines:
        # Bold is fill-then-stroke; the render mode belongs to the graphics state,
        # so each bold line saves and restores it.
        pdf.saveState()
        text = pdf.beginText()
        text.setFont(font, line.size_pt)
        if line.bold:
            text.setTextRenderMode(2)
            pdf.setLineWidth(line.size_pt * BOLD_STROKE)
        width = pdfmetrics.stringWidth(line.text, font, line.size_pt)
        text.setTextOrigin(
            (left_mm + line.x_mm) * MM - width / 2, (top_mm - line.baseline_mm) * MM
        )
        text.textOut(line.text)
        pdf.drawText(text)
        pdf.restoreState()
    pdf.restoreState()


def _draw_cut_marks(pdf: pdfcanvas.Canvas, layout: SheetLayout) -> None:
    # Marks sit in the page margin, in line with every sticker edge, so they
    # never print on a sticker.
    paper_w, paper_h = layout.paper_mm
    slots = layout.slots()
    w, h = layout.sticker_mm
    xs = sorted({x for x, _ in slots} | {x + w for x, _ in slots})
    ys = sorted({y for _, y in slots} | {y + h for _, y in slots})
    offset, length = 2.0, 5.0
    pdf.saveState()
    pdf.setLineWidth(0.3)
    pdf.setStrokeGray(0)
    for x in xs:
        for y0, y1 in (
            (ys[0] - offset, ys[0] - offset - length),
            (ys[-1] + offset, ys[-1] + offset + length),
        ):
            y0, y1 = max(0.0, min(paper_h, y0)), max(0.0, min(paper_h, y1))
            pdf.line(x * MM, (paper_h - y0) * MM, x * MM, (paper_h - y1) * MM)
    for y in ys:
        for x0, x1 in (
            (xs[0] - offset, xs[0] - offset - length),
            (xs[-1] + offset, xs[-1] + offset + length),
        ):
            x0, x1 = max(0.0, min(paper_w, x0)), max(0.0, min(paper_w, x1))
            pdf.line(x0 * MM, (paper_h - y) * MM, x1 * MM, (paper_h - y) * MM)
    pdf.restoreState()


def render_svg(
    content: StickerContent, size_mm: tuple[float, float] = DEFAULT_STICKER_MM
) -> bytes:
    """Returns one sticker as an SVG drawing in millimetres, the QR code as a path."""
    drawing = layout_sticker(content, size_mm)
    w, h = drawing.width_mm, drawing.height_mm
    path = "".join(
        f"M{x:.3f} {y:.3f}h{rw:.3f}v{rh:.3f}h{-rw:.3f}z"
        for x, y, rw, rh in drawing.dark_runs()
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}mm" height="{h:g}mm" '
        f'viewBox="0 0 {w:g} {h:g}">',
        f"<title>{escape(content.location_zh)}</title>",
        f'<rect width="{w:g}" height="{h:g}" fill="#fff"/>',
        f'<path d="{path}" fill="#000" shape-rendering="crispEdges"/>',
        f'<g font-family="{escape(SVG_FONT_FAMILY)}" text-anchor="middle" fill="#000">',
    ]
    for line in drawing.lines:
        size = line.size_pt * PT_MM
        bold = (
            f' stroke="#000" stroke-width="{size * BOLD_STROKE:.3f}"'
            if line.bold
            else ""
        )
        parts.append(
            f'<text x="{line.x_mm:.3f}" y="{line.baseline_mm:.3f}" '
            f'font-size="{size:.3f}"{bold} textLength={quoteattr(_svg_length(line))} '
            f'lengthAdjust="spacingAndGlyphs">{escape(line.text)}</text>'
        )
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts).encode()


def _svg_length(line: TextLine) -> str:
    # Pinning the measured width keeps the line inside the sticker even when the
    # viewer substitutes a font with wider Latin glyphs.
    return f"{text_width_mm(line.text, line.size_pt):.3f}"


def render_png(
    content: StickerContent,
    size_mm: tuple[float, float] = DEFAULT_STICKER_MM,
    dpi: int = 300,
) -> bytes:
    """Returns one sticker as a PNG image at dpi."""
    drawing = layout_sticker(content, size_mm)
    px = dpi / 25.4
    image = Image.new(
        "L", (round(drawing.width_mm * px), round(drawing.height_mm * px)), 255
    )
    draw = ImageDraw.Draw(image)
    for x, y, w, h in drawing.dark_runs():
        # Rounding both edges keeps neighbouring modules flush, with no seams.
        draw.rectangle(
            (
                round(x * px),
                round(y * px),
                round((x + w) * px) - 1,
                round((y + h) * px) - 1,
            ),
            fill=0,
        )
    for line in drawing.lines:
        size_px = line.size_pt * PT_MM * px
        font = _png_font(round(size_px * 4) / 4)
        draw.text(
            (line.x_mm * px, line.baseline_mm * px),
            line.text,
            font=font,
            fill=0,
            anchor="ms",
            # Pillow strokes outside the glyph; PDF centres the stroke on it.
            stroke_width=round(size_px * BOLD_STROKE / 2) if line.bold else 0,
            stroke_fill=0,
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


@cache
def _png_font(size_px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size=size_px, index=0)


def stickers_to_file(
    stickers: Sequence[StickerContent],
    path: str | Path,
    layout: SheetLayout = SheetLayout(),
    progress: Callable[[int], object] | None = None,
) -> None:
    """Writes a PDF sheet of all stickers, or one sticker as .svg or .png."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        data = render_pdf(stickers, layout, progress)
    elif suffix in (".svg", ".png"):
        if len(stickers) != 1:
            raise ValueError(
                f"{suffix} holds exactly one sticker, but {len(stickers)} were "
                "selected; choose one entrance or write a .pdf"
            )
        render = render_svg if suffix == ".svg" else render_png
        data = render(stickers[0], layout.sticker_mm)
        if progress:
            progress(1)
    else:
        raise ValueError(f"unknown sticker format {suffix!r}: use .pdf, .svg or .png")
    path.write_bytes(data)


def parse_size(text: str) -> tuple[float, float]:
    """Returns (width, height) in mm from '90x120'."""
    parts = text.lower().replace("×", "x").removesuffix("mm").split("x")
    try:
        width, height = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"not a sticker size: {text!r} (use e.g. 90x120)") from None
    if not (math.isfinite(width) and math.isfinite(height)) or min(width, height) <= 0:
        raise ValueError(f"not a sticker size: {text!r} (use e.g. 90x120)")
    return width, height
