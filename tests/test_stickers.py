"""Stickers: every printed QR code scans to its own entrance, legibly, anywhere."""

from __future__ import annotations

import ctypes
import io
import math
import re

import pypdf
import pypdfium2
import pypdfium2.raw as pdfium_raw
import pytest
import resvg_py
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from printables.stickers import (
    MIN_MODULE_MM,
    PAPER_SIZES,
    SheetLayout,
    StickerContent,
    font_path,
    layout_sticker,
    render_pdf,
    render_png,
    render_svg,
    stickers_to_file,
    text_width_mm,
    wrap_text,
)

DPI = 300
PX_MM = DPI / 25.4
# As long as a production URL is likely to get: https, a long host, an 8-letter code.
LONG_URL = "https://baoxiu.yangguang-huayuan.example.cn/q/7kq3mxa2"


def sticker(number: int, url: str | None = None, community: str = "阳光花园"):
    building, entrance = number // 3 + 1, number % 3 + 1
    return StickerContent(
        url=url or f"http://repair.test/q/code{number:04d}",
        location_zh=f"{community} {building}栋 {entrance}单元",
        location_en=f"Sunshine Garden, Building {building}, Unit {entrance}",
        service_phone="0755-8888 6666",
    )


def page_images(pdf: bytes, dpi: int = DPI) -> list[Image.Image]:
    """Rasterises every page of the PDF, as a printer would, at dpi."""
    document = pypdfium2.PdfDocument(pdf)
    return [page.render(scale=dpi / 72).to_pil() for page in document]


def scan(image: Image.Image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


def centre_mm(barcode: zxingcpp.Barcode) -> tuple[float, float]:
    p = barcode.position
    corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    return (
        sum(c.x for c in corners) / 4 / PX_MM,
        sum(c.y for c in corners) / 4 / PX_MM,
    )


def module_mm(barcode: zxingcpp.Barcode) -> float:
    """Returns the printed module size: the symbol's edge (no quiet zone) / modules."""
    p = barcode.position
    modules = 17 + 4 * int(barcode.extra["Version"])
    edges = [
        math.dist((a.x, a.y), (b.x, b.y))
        for a, b in (
            (p.top_left, p.top_right),
            (p.top_right, p.bottom_right),
            (p.bottom_right, p.bottom_left),
            (p.bottom_left, p.top_left),
        )
    ]
    # zxing reports the outer corners of the corner modules' pixels, give or take
    # one pixel: count the symbol as its modules, less one pixel of slack.
    return (min(edges) - 1) / modules / PX_MM


def rgb(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
    return flat


def test_every_sticker_on_a_sheet_scans_to_its_own_url():
    stickers = [sticker(n) for n in range(7)]
    layout = SheetLayout()

    pages = page_images(render_pdf(stickers, layout))

    assert len(pages) == 2  # four 90×120 mm stickers per A4 page
    slots = layout.slots()
    w, h = layout.sticker_mm
    for page_number, image in enumerate(pages):
        on_page = stickers[page_number * 4 : page_number * 4 + 4]
        found = scan(image)
        assert sorted(b.text for b in found) == sorted(s.url for s in on_page)
        for barcode in found:
            x, y = centre_mm(barcode)
            slot = next(
                i
                for i, (left, top) in enumerate(slots)
                if left < x < left + w and top < y < top + h
            )
            assert barcode.text == on_page[slot].url
            assert barcode.ec_level in ("M", "Q", "H")


def test_printed_qr_modules_are_at_least_1_2_mm_at_the_default_size():
    pages = page_images(render_pdf([sticker(0, LONG_URL)]))

    (barcode,) = scan(pages[0])

    assert barcode.text == LONG_URL
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode  # never Micro QR
    assert module_mm(barcode) >= MIN_MODULE_MM
    assert layout_sticker(sticker(0, LONG_URL)).module_mm >= MIN_MODULE_MM


def test_qr_code_keeps_a_four_module_quiet_zone_clear_of_text():
    drawing = layout_sticker(sticker(0, LONG_URL))
    quiet = 4 * drawing.module_mm
    symbol_top = drawing.qr_y_mm + quiet
    symbol_bottom = drawing.qr_y_mm + drawing.qr_size_mm - quiet

    for line in drawing.lines:
        cap = line.size_pt * 25.4 / 72  # glyphs reach at most one em above baseline
        below_baseline = 0.25 * cap
        assert (
            line.baseline_mm + below_baseline <= symbol_top - quiet
            or line.baseline_mm - cap >= symbol_bottom + quiet
        ), line.text


def test_sheet_is_vector_with_no_raster_images():
    reader = pypdf.PdfReader(io.BytesIO(render_pdf([sticker(n) for n in range(5)])))

    for page in reader.pages:
        assert list(page.images) == []


def test_sheet_text_carries_every_label_in_an_embedded_subset_cjk_font():
    stickers = [sticker(n) for n in range(6)]
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(stickers)))

    text = "\n".join(page.extract_text() for page in reader.pages)
    for content in stickers:
        assert content.location_zh in text
        assert content.location_en in text
        assert content.url in text
    assert "公共设施报修" in text and "紧急情况请拨打 0755-8888 6666" in text

    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[font["/BaseFont"]] = font
    assert fonts
    for name, font in fonts.items():
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, name
        assert re.fullmatch(r"/[A-Z]{6}\+\S+", name), f"{name} is not a subset"


def test_only_the_title_and_the_location_print_bold():
    document = pypdfium2.PdfDocument(render_pdf([sticker(1), sticker(2)]))
    page = document[0]
    text_page = page.get_textpage()

    bold = []
    for obj in page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_TEXT]):
        size = pdfium_raw.FPDFTextObj_GetText(obj.raw, text_page.raw, None, 0)
        buffer = ctypes.create_string_buffer(size)
        pointer = ctypes.cast(buffer, ctypes.POINTER(pdfium_raw.FPDF_WCHAR))
        pdfium_raw.FPDFTextObj_GetText(obj.raw, text_page.raw, pointer, size)
        text = buffer.raw.decode("utf-16-le").rstrip("\x00")
        mode = pdfium_raw.FPDFTextObj_GetTextRenderMode(obj.raw)
        if mode != pdfium_raw.FPDF_TEXTRENDERMODE_FILL:
            bold.append(text)

    assert bold == [
        "公共设施报修",
        "阳光花园 1栋 2单元",
        "公共设施报修",
        "阳光花园 1栋 3单元",
    ]


@pytest.mark.parametrize(
    "community",
    [
        "深圳市南山区粤海街道科技园社区阳光花园国际公寓二期东区业主委员会",
        "Sunshine Garden International Apartments Phase Two East District",
    ],
)
def test_long_community_name_shrinks_or_wraps_inside_the_sticker(community):
    content = sticker(4, community=community)
    layout = SheetLayout()

    drawing = layout_sticker(content, layout.sticker_mm)
    pdf = render_pdf([content], layout)

    inner = drawing.width_mm - 2 * 4.9
    for line in drawing.lines:
        assert text_width_mm(line.text, line.size_pt) <= inner, line.text
        assert 0 < line.baseline_mm < drawing.height_mm
    page = pypdfium2.PdfDocument(pdf)[0]
    text_page = page.get_textpage()
    left, top = layout.slots()[0]
    width, height = layout.sticker_mm
    page_height = page.get_height()
    for index in range(text_page.count_chars()):
        x0, y0, x1, y1 = (v / 72 * 25.4 for v in text_page.get_charbox(index))
        top_mm = page_height / 72 * 25.4 - y1
        bottom_mm = page_height / 72 * 25.4 - y0
        assert left < x0 and x1 < left + width
        assert top < top_mm and bottom_mm < top + height
    extracted = re.sub(
        r"\s", "", pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    )
    assert re.sub(r"\s", "", content.location_zh) in extracted
    assert [b.text for b in scan(page_images(pdf)[0])] == [content.url]


def test_absurdly_long_name_is_cut_with_an_ellipsis_rather_than_overflowing():
    content = sticker(1, community="阳光花园" * 40)

    drawing = layout_sticker(content)

    location = [line for line in drawing.lines if "阳光花园" in line.text]
    assert location[-1].text.endswith("…")
    for line in drawing.lines:
        assert text_width_mm(line.text, line.size_pt) <= drawing.width_mm - 9.8


def test_wrapping_breaks_between_chinese_characters_but_never_inside_a_phone_number():
    narrow = text_width_mm("阳光花园阳光", 10)

    lines = wrap_text("阳光花园阳光花园 12栋，2单元", narrow, 10)
    assert lines == ["阳光花园阳光", "花园 12栋，", "2单元"]

    content = sticker(0)
    instruction = content.instruction_line("en")
    assert instruction.splitlines()[-1] == "Emergencies: call 0755-8888\u00a06666"
    assert wrap_text(instruction, text_width_mm("Emergencies: call 0755", 7), 7)[
        -1
    ] == ("0755-8888\u00a06666")


def test_single_png_sticker_scans():
    content = sticker(2)

    image = Image.open(io.BytesIO(render_png(content, dpi=DPI)))

    assert image.size == (round(90 * PX_MM), round(120 * PX_MM))
    assert image.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
    (barcode,) = scan(image)
    assert barcode.text == content.url
    assert module_mm(barcode) >= MIN_MODULE_MM


def test_single_svg_sticker_scans_when_rendered():
    content = sticker(3)
    svg = render_svg(content)

    png = resvg_py.svg_to_bytes(
        svg_string=svg.decode(),
        dpi=DPI,  # resolves the drawing's millimetres
        width=round(90 * PX_MM),
        skip_system_fonts=True,
        font_files=[str(font_path())],
    )

    assert b"<image" not in svg  # the QR code is a vector path
    assert content.location_zh.encode() in svg
    assert [b.text for b in scan(rgb(bytes(png)))] == [content.url]


def test_svg_and_png_files_hold_exactly_one_sticker(tmp_path):
    with pytest.raises(ValueError, match="exactly one sticker"):
        stickers_to_file([sticker(0), sticker(1)], tmp_path / "two.png")
    with pytest.raises(ValueError, match="unknown sticker format"):
        stickers_to_file([sticker(0)], tmp_path / "one.jpg")

    stickers_to_file([sticker(0)], tmp_path / "one.svg")
    assert (tmp_path / "one.svg").read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize(
    ("paper", "grid"), [("a4", (2, 2)), ("letter", (2, 2)), ("a5", (1, 1))]
)
def test_default_stickers_fit_every_paper_size(paper, grid):
    layout = SheetLayout(paper_mm=PAPER_SIZES[paper])

    assert layout.grid() == grid
    pdf = render_pdf([sticker(n) for n in range(grid[0] * grid[1])], layout)
    assert len(scan(page_images(pdf, dpi=200)[0])) == grid[0] * grid[1]


def test_sticker_larger_than_the_paper_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        render_pdf([sticker(0)], SheetLayout(PAPER_SIZES["a5"], sticker_mm=(150, 200)))


# The command, on the demo community's real entrances.


def entrances(app, **filters):
    from printables.commands import select_entrances

    with app.app_context():
        return [(e.code, e.label("zh_CN")) for e in select_entrances(**filters)]


def test_officer_prints_the_community_sheet_and_every_sticker_opens_its_entrance(
    app, demo, client, tmp_path
):
    out = tmp_path / "yangguang.pdf"

    result = app.test_cli_runner().invoke(
        args=["stickers", "-o", str(out), "--community", "yangguang"]
    )

    assert result.exit_code == 0, result.output
    expected = dict(entrances(app, community="yangguang"))
    assert 11 <= len(expected) <= 14  # the entrances and the common areas
    scanned = [b.text for image in page_images(out.read_bytes()) for b in scan(image)]
    assert sorted(scanned) == sorted(f"http://repair.test/q/{c}" for c in expected)
    text = "".join(p.extract_text() for p in pypdf.PdfReader(out).pages)
    for url in scanned:
        path = url.removeprefix("http://repair.test")
        label = expected[path.removeprefix("/q/")]
        assert label in text
        page = client.get(path)
        assert page.status_code == 200
        assert label in page.get_data(as_text=True)


def test_one_entrance_as_png_and_a_building_as_pdf(app, demo, tmp_path):
    code, label = entrances(app)[0]
    runner = app.test_cli_runner()

    single = runner.invoke(
        args=["stickers", "-o", str(tmp_path / "one.png"), "--entrance", code.upper()]
    )
    building = runner.invoke(
        args=[
            "stickers",
            "-o",
            str(tmp_path / "b3.pdf"),
            "--building",
            "3栋",
            "--paper",
            "letter",
            "--sticker-size",
            "85x115",
        ]
    )

    assert single.exit_code == 0, single.output
    png = Image.open(tmp_path / "one.png")
    assert [b.text for b in scan(png)] == [f"http://repair.test/q/{code}"]
    assert building.exit_code == 0, building.output
    in_building = {c for c, lbl in entrances(app) if " 3栋 " in lbl}
    pdf = (tmp_path / "b3.pdf").read_bytes()
    assert pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width == pytest.approx(
        612
    )
    found = {
        b.text.rsplit("/", 1)[1] for image in page_images(pdf) for b in scan(image)
    }
    assert found == in_building


def test_command_explains_what_went_wrong(app, demo, tmp_path):
    runner = app.test_cli_runner()

    nobody = runner.invoke(
        args=["stickers", "-o", str(tmp_path / "x.pdf"), "--community", "nowhere"]
    )
    many = runner.invoke(args=["stickers", "-o", str(tmp_path / "x.svg")])
    size = runner.invoke(
        args=["stickers", "-o", str(tmp_path / "x.pdf"), "--sticker-size", "big"]
    )
    tiny = runner.invoke(
        args=["stickers", "-o", str(tmp_path / "x.pdf"), "--sticker-size", "40x55"]
    )

    assert nobody.exit_code == 1
    assert "no entrance matches community 'nowhere'" in nobody.output
    assert many.exit_code == 1 and "choose one with --entrance" in many.output
    assert size.exit_code == 2 and "not a sticker size" in size.output
    assert tiny.exit_code == 0 and "below the 1.2 mm" in tiny.output
    assert not (tmp_path / "x.svg").exists()


def test_large_runs_show_progress_and_local_urls_are_flagged(
    app, demo, tmp_path, monkeypatch
):
    from printables import commands

    monkeypatch.setattr(commands, "PROGRESS_FROM", 3)
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5000"
    ticks = []

    stickers_to_file(
        [sticker(n) for n in range(5)], tmp_path / "s.pdf", progress=ticks.append
    )
    result = app.test_cli_runner().invoke(
        args=["stickers", "-o", str(tmp_path / "a.pdf")]
    )

    assert sum(ticks) == 5
    assert result.exit_code == 0, result.output
    assert "Printing stickers" in result.output
    assert "phones cannot reach" in result.output
    assert "Wrote 12 sticker(s)" in result.output  # 7 entrances, 5 common areas


def test_rotated_code_gets_a_new_sticker_and_the_old_one_says_replaced(
    app, demo, client, tmp_path
):
    from repair.db import db
    from repair.models import Entrance
    from repair.places import assign_new_code

    old_code, label = entrances(app)[0]
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == old_code)
        )
        new_code = assign_new_code(entrance)
        db.session.commit()
    out = tmp_path / "new.svg"

    result = app.test_cli_runner().invoke(
        args=["stickers", "-o", str(out), "--entrance", new_code]
    )

    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert f"/q/{new_code}" in svg and old_code not in svg
    assert label in svg
    assert client.get(f"/q/{new_code}").status_code == 200
    assert client.get(f"/q/{old_code}").status_code == 410
    stale = app.test_cli_runner().invoke(
        args=["stickers", "-o", str(tmp_path / "old.svg"), "--entrance", old_code]
    )
    assert stale.exit_code == 1 and "no entrance matches" in stale.output
