"""Test data made on the fly: photos as phones produce them."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825


def jpeg_bytes(
    size: tuple[int, int] = (1200, 900),
    color: tuple[int, int, int] = (90, 120, 160),
    gps: bool = False,
    orientation: int | None = None,
) -> bytes:
    """Returns a JPEG like a phone's, optionally with GPS EXIF and an orientation."""
    image = Image.new("RGB", size, color)
    image.paste((230, 40, 40), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15"
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[GPS_IFD] = {
            1: "N",
            2: (22.0, 32.0, 33.6),
            3: "E",
            4: (113.0, 56.0, 12.5),
        }
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88, exif=exif)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 90, 128)).save(buffer, "PNG")
    return buffer.getvalue()
