"""Benchmark: a 1,000-entrance community's sticker sheets (target ≤ 15 s, one core).

Run: .venv/bin/python tests/benchmarks/bench_stickers.py [ENTRANCES]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from printables.stickers import (  # noqa: E402
    SheetLayout,
    StickerContent,
    layout_sticker,
    render_pdf,
    render_png,
)
from repair.places import new_code  # noqa: E402

TARGET_SECONDS = 15.0
PUBLIC_URL = "https://baoxiu.yangguang-huayuan.example.cn"


def made_up_community(entrances: int) -> list[StickerContent]:
    """Returns stickers for a community of 20-storey towers, 4 entrances each."""
    return [
        StickerContent(
            url=f"{PUBLIC_URL}/q/{new_code()}",
            location_zh=f"阳光花园国际公寓 {n // 4 + 1}栋 {n % 4 + 1}单元",
            location_en=(
                f"Sunshine Garden International, Building {n // 4 + 1}, "
                f"Unit {n % 4 + 1}"
            ),
            service_phone="0755-8888 6666",
        )
        for n in range(entrances)
    ]


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def cpu_timed(action):
    start = time.process_time()
    result = action()
    return result, time.process_time() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    stickers = made_up_community(count)
    layout = SheetLayout()
    render_pdf(stickers[:1], layout)  # loads the font once, as a long process would

    _, layout_seconds = timed(lambda: [layout_sticker(s) for s in stickers])
    pdf, pdf_seconds = timed(lambda: render_pdf(stickers, layout))
    _, pdf_cpu_seconds = cpu_timed(lambda: render_pdf(stickers, layout))
    sample = stickers[:50]
    _, png_seconds = timed(lambda: [render_png(s) for s in sample])

    pages = -(-count // layout.per_page)
    print(f"entrances:                  {count} ({pages} A4 pages)")
    print(f"layout (QR encode + text):  {count / layout_seconds:8.1f} stickers/s")
    print(f"PDF sheet set:              {count / pdf_seconds:8.1f} stickers/s")
    print(f"whole sheet set:            {pdf_seconds:8.2f} s wall")
    print(f"                            {pdf_cpu_seconds:8.2f} s CPU (second run)")
    ratio = pdf_seconds / TARGET_SECONDS
    verdict = "within" if ratio <= 1 else "OVER"
    print(
        f"  ÷ {TARGET_SECONDS:.0f} s target:           {ratio:8.2f} ({verdict} target)"
    )
    print(f"PDF size:                   {len(pdf) / 1024:8.1f} KiB")
    print(f"PDF size per sticker:       {len(pdf) / count / 1024:8.2f} KiB")
    print(f"single PNG at 300 dpi:      {len(sample) / png_seconds:8.1f} stickers/s")


if __name__ == "__main__":
    main()
