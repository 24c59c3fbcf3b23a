"""The `repairdesk stickers` command, and sticker contents built from places
(entrances and common areas)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext

from printables.stickers import (
    DEFAULT_STICKER_MM,
    MIN_MODULE_MM,
    PAPER_SIZES,
    SheetLayout,
    StickerContent,
    layout_sticker,
    parse_size,
    stickers_to_file,
)
from repair.models import Entrance
from repair.places import all_entrances, landing_url

#: Runs this long get a progress bar.
PROGRESS_FROM = 20
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def sticker_for(entrance: Entrance) -> StickerContent:
    """Returns the sticker content for an entrance's current code (app context)."""
    building = entrance.building  # None for a common area
    names_en = (
        entrance.community.name_en,
        building.name_en if building else None,
        entrance.name_en,
    )
    return StickerContent(
        url=landing_url(entrance),
        location_zh=entrance.label("zh_CN"),
        # Without any English name the English line would only repeat the Chinese.
        location_en=entrance.label("en") if any(names_en) else "",
        service_phone=entrance.community.service_phone,
    )


def stickers_for(entrances: Iterable[Entrance]) -> list[StickerContent]:
    """Returns sticker contents for the entrances, in order (app context)."""
    return [sticker_for(entrance) for entrance in entrances]


def select_entrances(
    community: str | None = None,
    building: str | None = None,
    codes: Sequence[str] = (),
) -> list[Entrance]:
    """Returns entrances matching a community slug, a building id or name, and codes."""
    entrances = all_entrances()
    if community:
        entrances = [e for e in entrances if e.community.slug == community]
    if building:
        entrances = [e for e in entrances if _is_building(e, building)]
    if codes:
        wanted = {code.strip().lower() for code in codes}
        entrances = [e for e in entrances if e.code in wanted]
    return entrances


def _is_building(entrance: Entrance, building: str) -> bool:
    if entrance.building is None:  # a common area is in no building
        return False
    if building.isdigit():
        return entrance.building_id == int(building)
    return building in (entrance.building.name, entrance.building.name_en)


@click.command("stickers")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write: .pdf (a sheet of all), .svg or .png (one sticker).",
)
@click.option("--community", metavar="SLUG", help="Only this community.")
@click.option("--building", metavar="ID-OR-NAME", help="Only this building.")
@click.option(
    "--entrance",
    "codes",
    metavar="CODE",
    multiple=True,
    help="Only these entrances, by QR code (repeat the option for more).",
)
@click.option(
    "--paper",
    type=click.Choice(sorted(PAPER_SIZES), case_sensitive=False),
    default="a4",
    show_default=True,
    help="Paper size of the PDF sheet.",
)
@click.option(
    "--sticker-size",
    metavar="WxH",
    default="{:g}x{:g}".format(*DEFAULT_STICKER_MM),
    show_default=True,
    help="Sticker size in millimetres.",
)
@with_appcontext
def stickers_command(
    output: Path,
    community: str | None,
    building: str | None,
    codes: tuple[str, ...],
    paper: str,
    sticker_size: str,
) -> None:
    """Print QR repair stickers for entrances (PDF sheet, or one SVG or PNG)."""
    suffix = output.suffix.lower()
    if suffix not in (".pdf", ".svg", ".png"):
        raise click.BadParameter("use a .pdf, .svg or .png file name", param_hint="-o")
    try:
        size = parse_size(sticker_size)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--sticker-size") from None
    layout = SheetLayout(paper_mm=PAPER_SIZES[paper.lower()], sticker_mm=size)
    entrances = select_entrances(community, building, codes)
    if not entrances:
        raise click.ClickException(_nothing_matched(community, building, codes))
    if suffix != ".pdf" and len(entrances) > 1:
        raise click.ClickException(
            f"{suffix} holds one sticker, but {len(entrances)} entrances match; "
            "choose one with --entrance CODE, or write a .pdf sheet"
        )
    contents = stickers_for(entrances)
    public_url = current_app.config["PUBLIC_URL"]
    if urlsplit(public_url).hostname in LOCAL_HOSTS:
        click.echo(
            f"Warning: the stickers point at {public_url}, which phones cannot "
            "reach; set REPAIRDESK_PUBLIC_URL before printing them for real.",
            err=True,
        )
    try:
        if suffix == ".pdf":
            layout.grid()
        # The longest URL needs the densest symbol, hence the smallest modules.
        longest = max(contents, key=lambda content: len(content.url.encode()))
        smallest = layout_sticker(longest, size).module_mm
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if smallest < MIN_MODULE_MM:
        click.echo(
            f"Warning: QR modules print {smallest:.2f} mm wide, below the "
            f"{MIN_MODULE_MM} mm a phone reads from arm's length; "
            "use a larger --sticker-size.",
            err=True,
        )
    if len(contents) >= PROGRESS_FROM:
        with click.progressbar(
            length=len(contents),
            label="Printing stickers",
            file=sys.stderr,
        ) as bar:
            stickers_to_file(contents, output, layout, progress=bar.update)
    else:
        stickers_to_file(contents, output, layout)
    click.echo(f"Wrote {len(contents)} sticker(s) to {output}")


def _nothing_matched(
    community: str | None, building: str | None, codes: Sequence[str]
) -> str:
    filters = [
        f"community {community!r}" if community else "",
        f"building {building!r}" if building else "",
        "entrance " + ", ".join(codes) if codes else "",
    ]
    chosen = " and ".join(part for part in filters if part)
    if not chosen:
        return "no entrances yet: add a community first (try `repairdesk seed-demo`)"
    return f"no entrance matches {chosen} (see `repairdesk entrances`)"
