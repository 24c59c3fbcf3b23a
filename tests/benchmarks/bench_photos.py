"""Benchmark: process_photo on a 12-megapixel phone JPEG, with and without draft."""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageChops, JpegImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from repair.photos.processing import process_original, process_photo  # noqa: E402

TARGET_MS = 250.0
WIDTH, HEIGHT = 4032, 3024
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000


def make_phone_jpeg(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """Returns a photo-like JPEG (smooth shapes, gradient, sensor noise), rotated 6."""
    channels = []
    for turn in (0, 180, 90):
        coarse = Image.effect_noise((width // 16, height // 16), 60)
        coarse = coarse.resize((width, height), Image.Resampling.BICUBIC)
        gradient = Image.linear_gradient("L").rotate(turn).resize((width, height))
        base = ImageChops.blend(coarse, gradient, 0.5)
        grain = Image.effect_noise((width, height), 4)
        channels.append(ImageChops.add(base, grain, scale=1.0, offset=-128))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "BenchPhone"
    exif[0x0110] = "BenchPhone 12"
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


@contextmanager
def draft_disabled():
    """Makes JPEG draft a no-op, so process_photo decodes at full size."""
    original = JpegImagePlugin.JpegImageFile.draft
    JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None
    try:
        yield
    finally:
        JpegImagePlugin.JpegImageFile.draft = original


def time_runs(run: Callable[[], object], runs: int) -> list[float]:
    """Returns the wall time of each run in milliseconds, after one warm-up."""
    run()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    """Returns the nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def peak_rss_kib() -> int:
    """Returns this process's peak RSS in KiB (VmHWM, which execve resets)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kept over exec


def measure_memory(path: str, naive: bool) -> None:
    """Prints the growth of peak RSS in KiB caused by processing one photo."""
    data = Path(path).read_bytes()
    before = peak_rss_kib()
    if naive:
        with draft_disabled():
            process_photo(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    else:
        process_photo(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    print(peak_rss_kib() - before)


def peak_rss_mib(path: Path, naive: bool) -> float:
    """Returns the peak RSS growth of one photo, measured in a fresh process."""
    command = [sys.executable, __file__, "--memory-of", str(path)]
    if naive:
        command.append("--naive")
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    return int(output.stdout.strip()) / 1024


def main() -> None:
    """Runs the benchmark and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--job", action="store_true", help="the photo job's CPU per photo only"
    )
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory_of:
        measure_memory(arguments.memory_of, arguments.naive)
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    if arguments.job:
        job_cpu(arguments.runs)
        return

    data = make_phone_jpeg()
    photo = process_photo(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    print(f"input: {WIDTH}x{HEIGHT} JPEG q92, orientation 6, {len(data) / 1e6:.2f} MB")
    print(
        f"output: display {photo.width}x{photo.height}"
        f" {len(photo.display) / 1e3:.0f} kB,"
        f" thumbnail {len(photo.thumbnail) / 1e3:.0f} kB"
    )

    def run() -> object:
        return process_photo(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)

    def run_naive() -> object:
        with draft_disabled():
            return run()

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_photos_{os.getpid()}.jpg"
    work.write_bytes(data)
    try:
        for label, runner, naive in (
            ("process_photo (draft)", run, False),
            ("naive (no draft)     ", run_naive, True),
        ):
            timings = time_runs(runner, arguments.runs)
            median = statistics.median(timings)
            print(
                f"{label}: median {median:6.1f} ms, p90 {percentile(timings, 0.9):6.1f}"
                f" ms, {median / TARGET_MS:.2f}x of the {TARGET_MS:.0f} ms target,"
                f" peak RSS +{peak_rss_mib(work, naive):.0f} MiB"
                f" ({arguments.runs} runs)"
            )
    finally:
        work.unlink(missing_ok=True)


JOB_TARGET_MS = 90.0


def job_cpu(runs: int) -> None:
    """Prints the photo job's CPU per photo: a 12 MP phone JPEG, and the 1600 px
    JPEG report.js sends (which keeps its pixels)."""
    phone = make_phone_jpeg()
    browser = io.BytesIO()
    Image.open(io.BytesIO(phone)).resize((1600, 1200)).save(browser, "JPEG", quality=85)
    for label, data in (
        ("12 MP JPEG", phone),
        ("1600 px (report.js)", browser.getvalue()),
    ):
        process_original(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        cpu = []
        for _ in range(runs):
            started = time.process_time()
            process_original(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
            cpu.append((time.process_time() - started) * 1000)
        median = statistics.median(cpu)
        verdict = "ok" if label != "12 MP JPEG" or median <= JOB_TARGET_MS else "OVER"
        print(
            f"photo job, {label}: CPU median {median:.1f} ms,"
            f" p95 {percentile(cpu, 0.95):.1f} ms; target <= {JOB_TARGET_MS:.0f} ms"
            f" for 12 MP: {verdict}; one core sustains {1000 / median:.1f}/s"
        )


if __name__ == "__main__":
    main()
