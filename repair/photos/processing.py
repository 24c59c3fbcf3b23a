"""Photo intake: validate an upload, strip its metadata, downscale it, store it."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pillow_heif
from PIL import ExifTags, Image, ImageCms

pillow_heif.register_heif_opener()

ACCEPTED_MIME_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
)
REJECTION_REASONS: tuple[str, ...] = (
    "empty",
    "too_large",
    "not_an_image",
    "unsupported_format",
    "too_many_pixels",
)
VARIANTS: dict[str, str] = {"display": ".jpg", "thumbnail": ".thumb.jpg"}

# Only these Pillow decoders ever see an upload; MPO is the JPEG that phones write
# for portrait mode and burst shots (Pillow opens it through the JPEG plugin).
_PILLOW_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
_DRAFTABLE_FORMATS = frozenset({"JPEG", "MPO"})
# A baseline encode with the standard Huffman tables: for a 12 MP photo's 1600 px
# display copy it costs 9 ms where progressive (with its optimised tables) cost
# 52 ms and baseline with optimised tables 18 ms; the pixels are the same, the file
# is 8 % larger (336 vs 310 kB). Box instead of bilinear would save 13 ms more, but
# thin lines turn jagged at 4x zoom and the SSIM to a Lanczos resize of the full
# photo drops (0.9892 vs 0.9913): tests/benchmarks/bench_photos.py --compare.
_JPEG_SETTINGS = {"quality": 82}
# Bilinear (an antialiasing convolution in Pillow) costs 29 ms where bicubic cost
# 48 ms for a 12 MP photo's 2016 -> 1600 px step, indistinguishable at this small
# ratio: draft has already done the big reduction.
_RESAMPLE = Image.Resampling.BILINEAR
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# EXIF orientation -> the transpose that undoes it (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SRGB = ImageCms.createProfile("sRGB")
# Magic numbers of raster formats that are images, just not ones we accept.
_OTHER_IMAGE_SIGNATURES = (
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"8BPS",  # Photoshop
    b"\x00\x00\x01\x00",  # ICO
    b"\xff\x0a",  # JPEG XL codestream
    b"\x00\x00\x00\x0cJXL ",  # JPEG XL container
    b"\x00\x00\x00\x0cjP  ",  # JPEG 2000
    b"qoif",
)
_OTHER_FTYP_BRANDS = (b"avif", b"avis")


class PhotoRejected(ValueError):
    """An upload that cannot become a photo; `reason` is one of REJECTION_REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """A cleaned photo: display JPEG and thumbnail JPEG, named by the display hash."""

    sha256: str
    width: int
    height: int
    display: bytes = field(repr=False)
    thumbnail: bytes = field(repr=False)


def process_photo(
    data: bytes | BinaryIO,
    *,
    max_bytes: int,
    max_pixels: int,
    display_size: int = 1600,
    thumbnail_size: int = 320,
) -> ProcessedPhoto:
    """Returns the cleaned display copy and thumbnail, or raises PhotoRejected."""
    raw = read_limited(data, max_bytes)
    if not raw:
        raise PhotoRejected("empty")
    if len(raw) > max_bytes:
        raise PhotoRejected("too_large", f"more than {max_bytes} bytes")
    image = open_image(raw, max_pixels)
    if image.format in _DRAFTABLE_FORMATS:
        # The longest side is the same in stored and displayed orientation, so
        # fitting the stored size keeps the draft right for rotated photos too.
        image.draft("RGB", fit_within(image.size, display_size))
        fast_draft(image)
    icc_profile = image.info.get("icc_profile")
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("too_many_pixels", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise PhotoRejected("not_an_image", f"cannot decode: {exc}") from exc
    upright = orientation_transpose(image)
    display = downscale(to_resizable(image), display_size)
    if upright is not None:  # turned after downscaling: fewer pixels to move
        display = display.transpose(upright)
    display = to_srgb(display, icc_profile)
    display_bytes = encode_jpeg(display)
    thumbnail = downscale(display, thumbnail_size, reducing_gap=1.0)
    return ProcessedPhoto(
        sha256=hashlib.sha256(display_bytes).hexdigest(),
        width=display.width,
        height=display.height,
        display=display_bytes,
        thumbnail=encode_jpeg(thumbnail),
    )


def read_limited(data: bytes | BinaryIO, max_bytes: int) -> bytes:
    """Returns the upload's bytes, reading at most max_bytes + 1 from a stream."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data[: max_bytes + 1])
    chunks: list[bytes] = []
    remaining = max_bytes + 1
    while remaining > 0:
        chunk = data.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def open_image(raw: bytes, max_pixels: int) -> Image.Image:
    """Returns the image with only its header parsed, checking format and pixels."""
    try:
        image = Image.open(io.BytesIO(raw), formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("too_many_pixels", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        if is_other_image_format(raw[:32]):
            raise PhotoRejected("unsupported_format") from exc
        raise PhotoRejected("not_an_image") from exc
    width, height = image.size
    # Pillow only warns between its limit and twice its limit; reject those too.
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    if width * height > limit:
        raise PhotoRejected("too_many_pixels", f"{width}x{height} is over {limit}")
    if width < 1 or height < 1:
        raise PhotoRejected("not_an_image", f"{width}x{height}")
    return image


def is_other_image_format(head: bytes) -> bool:
    """Returns whether the first bytes are those of an image format we do not take."""
    if head.startswith(_OTHER_IMAGE_SIGNATURES):
        return True
    if head[:2] == b"BM" and len(head) >= 18 and head[6:10] == b"\x00\x00\x00\x00":
        return True  # BMP: reserved fields are zero
    return head[4:8] == b"ftyp" and head[8:12] in _OTHER_FTYP_BRANDS


def orientation_transpose(image: Image.Image) -> Image.Transpose | None:
    """Returns the transpose that turns the image upright per its EXIF orientation."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except MemoryError:
        raise
    except Exception:
        return None  # unreadable EXIF must not cost the resident their photo
    return _UPRIGHT.get(orientation) if isinstance(orientation, int) else None


def fast_draft(image: Image.Image) -> None:
    """Makes a drafted JPEG decode with libjpeg's fast integer DCT and plain
    upsampling (Pillow's own draft flag): 8 ms less per 12 MP photo; a draft that
    the display copy downscales further, so its SSIM to the accurate decode's copy
    stays 0.999 (tests/benchmarks/bench_photos.py --quality)."""
    config = getattr(image, "decoderconfig", None)
    if isinstance(config, tuple) and len(config) == 2 and config[0] > 1:
        image.decoderconfig = (config[0], 1)


def fit_within(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """Returns size scaled down so its longest side is at most longest; never up."""
    width, height = size
    if max(width, height) <= longest:
        return width, height
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_resizable(image: Image.Image) -> Image.Image:
    """Returns the image in a mode that resamples well: L, LA, RGB, RGBA or CMYK."""
    if image.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if image.mode.startswith("I"):  # 16-bit greyscale PNG: keep the top byte
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode == "1":
        return image.convert("L")
    has_alpha = image.mode in ("PA", "La", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def downscale(
    image: Image.Image, longest: int, reducing_gap: float = 2.0
) -> Image.Image:
    """Returns the image with its longest side at most longest pixels; never up.

    A thumbnail passes reducing_gap=1.0: most of its reduction is a box average
    (Image.reduce), 2.5 ms instead of 7.7 ms for 1600 -> 320 px.
    """
    size = fit_within(image.size, longest)
    if size == image.size:
        return image
    return image.resize(size, _RESAMPLE, reducing_gap=reducing_gap)


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Returns an RGB image in sRGB: transparency on white, colour profile applied."""
    if image.mode in ("LA", "RGBA"):
        opaque = Image.new(image.mode[:-1], image.size, "white")
        opaque.paste(image.convert(opaque.mode), mask=image.getchannel("A"))
        image = opaque
    transform = srgb_transform(icc_profile, image.mode) if icc_profile else None
    if transform is not None:
        try:
            return ImageCms.applyTransform(image, transform)
        except (ImageCms.PyCMSError, ValueError, OSError):
            pass  # a profile that does not fit the pixels is dropped, not fatal
    return image if image.mode == "RGB" else image.convert("RGB")


@functools.lru_cache(maxsize=16)
def srgb_transform(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Returns a transform from the embedded profile to sRGB, or None if not needed."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "sRGB" in ImageCms.getProfileDescription(profile):
            return None
        # NOCACHE makes one transform safe to share between threads.
        return ImageCms.buildTransform(
            profile,
            _SRGB,
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, ValueError, OSError):
        return None


def encode_jpeg(image: Image.Image) -> bytes:
    """Returns the image as a baseline JPEG carrying no metadata at all."""
    image.info.clear()  # Pillow would otherwise copy e.g. a JPEG comment over
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **_JPEG_SETTINGS)
    return buffer.getvalue()


class LocalPhotoStore:
    """Photos in a folder: root/ab/<sha256>.jpg and root/ab/<sha256>.thumb.jpg."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, photo: ProcessedPhoto) -> None:
        """Writes both files atomically, thumbnail first; saving twice is harmless."""
        if hashlib.sha256(photo.display).hexdigest() != photo.sha256:
            raise ValueError("photo.sha256 is not the hash of photo.display")
        for variant, content in (
            ("thumbnail", photo.thumbnail),
            ("display", photo.display),
        ):
            target = self.path(photo.sha256, variant)
            if not target.is_file():
                write_atomically(target, content)

    def path(self, sha256: str, variant: str = "display") -> Path:
        """Returns where a variant of a photo lives; ValueError for a bad hash."""
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
        if variant not in VARIANTS:
            raise ValueError(f"unknown photo variant: {variant!r}")
        return self.root / sha256[:2] / f"{sha256}{VARIANTS[variant]}"

    def exists(self, sha256: str, variant: str = "display") -> bool:
        """Returns whether the variant of the photo is stored."""
        return self.path(sha256, variant).is_file()

    def read(self, sha256: str, variant: str = "display") -> bytes:
        """Returns a variant's bytes; FileNotFoundError if it is not stored."""
        return self.path(sha256, variant).read_bytes()

    def open(self, sha256: str, variant: str = "display") -> StoredFile | None:
        """Returns a variant opened for streaming, or None if it is not stored."""
        try:
            file = self.path(sha256, variant).open("rb")
        except FileNotFoundError:
            return None
        return StoredFile(file, os.fstat(file.fileno()).st_size)

    def put(self, sha256: str, variant: str, content: bytes) -> None:
        """Writes one variant as it is (a copy from another store)."""
        write_atomically(self.path(sha256, variant), content)

    def names(self) -> Iterator[tuple[str, str]]:
        """Yields (sha256, variant) of every stored file, thumbnails first."""
        if not self.root.is_dir():
            return
        names = (parse_variant_name(path.name) for path in self.root.glob("??/*.jpg"))
        yield from sorted(filter(None, names), key=variant_order)


def parse_variant_name(name: str) -> tuple[str, str] | None:
    """Returns (sha256, variant) for a stored file name such as <sha256>.thumb.jpg."""
    for variant, suffix in sorted(VARIANTS.items(), key=lambda item: -len(item[1])):
        sha256 = name.removesuffix(suffix)
        if name.endswith(suffix) and SHA256_HEX.fullmatch(sha256):
            return sha256, variant
    return None


def variant_order(name: tuple[str, str]) -> tuple[str, bool]:
    """Sort key: by hash, a thumbnail before its display copy (which is written
    last, so a display copy present means the photo is complete)."""
    return name[0], name[1] == "display"


@dataclass(slots=True)
class StoredFile:
    """A stored file opened for streaming: its size and a readable stream."""

    stream: BinaryIO
    size: int

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """Yields the file's bytes in chunks, closing it at the end."""
        try:
            while chunk := self.stream.read(size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Closes the stream (safe to call twice)."""
        self.stream.close()


def write_atomically(target: Path, content: bytes, mode: int = 0o644) -> None:
    """Writes content to target through a synced temporary file and os.replace."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)  # mkstemp makes 0600; a web server may serve it
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    sync_directory(target.parent)


def sync_directory(directory: Path) -> None:
    """Flushes a directory entry to disk where the platform allows it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# Magic numbers of the formats we accept, checked before Pillow parses a header.
_ACCEPTED_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
# JPEG segments a display copy keeps: the JFIF header and Adobe's colour transform.
# Everything else at the APPn/COM level (EXIF and GPS in APP1, XMP, IPTC in APP13,
# MPF, ICC in APP2, makers' notes, comments) is dropped.
_KEPT_JPEG_APPS = frozenset({0xE0, 0xEE})
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True, slots=True)
class PhotoHeader:
    """What the header of an accepted upload says, before any pixel is decoded."""

    format: str
    width: int
    height: int


def check_header(raw: bytes, *, max_bytes: int, max_pixels: int) -> PhotoHeader:
    """Returns the upload's format and size from its header alone, or raises
    PhotoRejected; no pixel is decoded."""
    if not raw:
        raise PhotoRejected("empty")
    if len(raw) > max_bytes:
        raise PhotoRejected("too_large", f"more than {max_bytes} bytes")
    if not has_accepted_signature(raw[:32]):
        if is_other_image_format(raw[:32]):
            raise PhotoRejected("unsupported_format")
        raise PhotoRejected("not_an_image")
    image = open_image(raw, max_pixels)
    with contextlib.closing(image):
        header = PhotoHeader(image.format, image.width, image.height)
    if not is_complete(raw):
        raise PhotoRejected("not_an_image", "the file is cut short")
    return header


def is_complete(raw: bytes) -> bool:
    """Returns whether an accepted upload reaches its format's end (a cut-off upload
    does not); a scan for markers, no decoding."""
    if raw.startswith(b"\xff\xd8"):
        scan = _jpeg_scan_start(raw)
        # Looked for from the end, where a whole JPEG has it: a scan forward read
        # the 3 MB of a phone photo's compressed data first (3.5 ms a report).
        return scan is not None and raw.rfind(b"\xff\xd9", scan) >= 0
    if raw.startswith(b"\x89PNG"):
        return raw.rfind(b"IEND") > 8
    if raw.startswith(b"RIFF"):
        return int.from_bytes(raw[4:8], "little") + 8 <= len(raw)
    position = 0  # HEIF: its top-level boxes must all fit
    while position + 8 <= len(raw):
        size = int.from_bytes(raw[position : position + 4], "big")
        if size == 1 and position + 16 <= len(raw):
            size = int.from_bytes(raw[position + 8 : position + 16], "big")
        elif size == 0:
            return True  # the last box runs to the end of the file
        if size < 8:
            return False
        position += size
    return position == len(raw)


def _jpeg_scan_start(raw: bytes) -> int | None:
    """Returns where a JPEG's first scan's data begins, walking its segments."""
    position = 2
    while position + 4 <= len(raw):
        if raw[position] != 0xFF:
            return None
        marker = raw[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        length = int.from_bytes(raw[position + 2 : position + 4], "big")
        position += 2 + length
        if marker == 0xDA:
            return position
    return None


def has_accepted_signature(head: bytes) -> bool:
    """Returns whether the first bytes are those of JPEG, PNG, WebP or HEIC/HEIF."""
    if head.startswith(_ACCEPTED_SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def process_original(
    raw: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    display_size: int = 1600,
    thumbnail_size: int = 320,
) -> ProcessedPhoto:
    """Returns the display copy and thumbnail of a kept original.

    A JPEG already at or below the display size, upright and in sRGB keeps its
    pixels: only its metadata segments are dropped, and the thumbnail is decoded
    at a fraction of the size. Anything else goes through process_photo.
    """
    kept = keep_jpeg_pixels(raw, max_pixels, display_size, thumbnail_size)
    if kept is not None:
        return kept
    return process_photo(
        raw,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        display_size=display_size,
        thumbnail_size=thumbnail_size,
    )


def keep_jpeg_pixels(
    raw: bytes, max_pixels: int, display_size: int, thumbnail_size: int
) -> ProcessedPhoto | None:
    """Returns the photo with its JPEG pixels kept, or None if they must change."""
    image = open_image(raw, max_pixels)
    if image.format not in _DRAFTABLE_FORMATS or image.mode not in ("RGB", "L"):
        return None
    if max(image.size) > display_size or orientation_transpose(image) is not None:
        return None
    icc_profile = image.info.get("icc_profile")
    if icc_profile and srgb_transform(icc_profile, image.mode) is not None:
        return None  # a wide-gamut photo needs its colours converted
    display = strip_jpeg_metadata(raw)
    if display is None:
        return None
    width, height = image.size
    image.draft("RGB", (thumbnail_size, thumbnail_size))
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("too_many_pixels", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise PhotoRejected("not_an_image", f"cannot decode: {exc}") from exc
    thumbnail = downscale(image.convert("RGB"), thumbnail_size)
    return ProcessedPhoto(
        sha256=hashlib.sha256(display).hexdigest(),
        width=width,
        height=height,
        display=display,
        thumbnail=encode_jpeg(thumbnail),
    )


def strip_jpeg_metadata(raw: bytes) -> bytes | None:
    """Returns the JPEG without its metadata segments (APPn but JFIF and Adobe,
    COM) and without anything after its end marker; None if it is malformed."""
    if raw[:2] != b"\xff\xd8":
        return None
    out = [raw[:2]]
    position, size = 2, len(raw)
    while position + 2 <= size:
        if raw[position] != 0xFF:
            return None
        marker = raw[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _STANDALONE_MARKERS:
            out.append(raw[position : position + 2])
            position += 2
            continue
        if marker == 0xD9:
            out.append(raw[position : position + 2])
            return b"".join(out)
        length = int.from_bytes(raw[position + 2 : position + 4], "big")
        end = position + 2 + length
        if position + 4 > size or length < 2 or end > size:
            return None
        is_app = 0xE0 <= marker <= 0xEF
        if not (marker == 0xFE or (is_app and marker not in _KEPT_JPEG_APPS)):
            out.append(raw[position:end])
        position = end
        if marker == 0xDA:  # entropy-coded data runs to the next real marker
            scan = position
            while True:
                scan = raw.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= size:
                    return None
                following = raw[scan + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    scan += 2
                    continue
                if following == 0xFF:
                    scan += 1
                    continue
                break
            out.append(raw[position:scan])
            position = scan
    return None
