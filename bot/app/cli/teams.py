"""`pmp teams`: the Microsoft Teams app package that IT uploads to the hospital's tenant."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from pydantic import ValidationError

from bot.app.cli import common
from bot.config import Settings

MANIFEST_VERSION = "1.19"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
DEFAULT_NAME = "PMP Companion"
DEFAULT_OUTPUT = "pmp-teams-app.zip"
MESSAGES_PATH = "/api/messages"
# NHS Blue: the colour behind the icon in Teams' app lists.
ACCENT = (0x00, 0x5E, 0xB8)
WHITE = (0xFF, 0xFF, 0xFF)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# The manifest's limits (schema v1.19) on the names shown in Teams.
_SHORT_NAME_MAX = 30
_DEVELOPER_MAX = 32

DESCRIPTION_SHORT = "Alerts for the pain team, and support for patients on the programme."
DESCRIPTION_FULL = (
    "For the hospital's chronic-pain Pain Management Programme. Staff see alerts about "
    "patients' pain or distress in their team's channel, and acknowledge or resolve them "
    "there. Patients on the programme chat with it in a personal chat: their schedule, "
    "reminders, questions for the doctor, and a way to tell the team about more pain or "
    "distress. Nobody reads the chat straight away: in an emergency call 999, or NHS 111."
)
# Shown beside the message box in a personal chat: patients' first, then staff's.
COMMANDS = (
    ("/menu", "The main menu"),
    ("/help", "What I can do, and where to get help"),
    ("/escalations", "Staff: open alerts about pain or distress"),
    ("/questions", "Staff: the doctor's list of questions for a group"),
)


@click.group()
def teams() -> None:
    """Microsoft Teams: the app package IT uploads."""


def _https(value: str, name: str) -> str:
    """An https address with a host, or a refusal naming the setting or option."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise click.UsageError(
            f"{name} must be an https address (like https://pmp.trust.nhs.uk): "
            "Teams only reaches the bot over HTTPS."
        )
    return value.strip().rstrip("/")


def _settings() -> Settings:
    """Settings, with a broken one explained in a sentence rather than a traceback."""
    try:
        return common.settings()
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise click.UsageError(f"{message}.") from None


def _developer(settings: Settings) -> str:
    """Who publishes the app, as Teams shows it: the clinic, if its name fits."""
    name = settings.clinic_name.strip().removeprefix("the ").strip()
    if not name or len(name) > _DEVELOPER_MAX:
        return "Pain Management Programme"
    return name[0].upper() + name[1:]


def _version() -> str:
    """The app's version: PMP Companion's own (semver, as the manifest needs)."""
    try:
        found = metadata.version("pmp-companion")
    except metadata.PackageNotFoundError:
        return "1.0.0"
    return found if re.fullmatch(r"\d+\.\d+\.\d+", found) else "1.0.0"


def manifest(
    settings: Settings, name: str, public_url: str, privacy_url: str, terms_url: str
) -> dict[str, Any]:
    """The Teams app manifest (schema v1.19) for the bot with TEAMS_APP_ID."""
    app_id = settings.teams_app_id.lower()
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": _version(),
        "id": app_id,
        "developer": {
            "name": _developer(settings),
            "websiteUrl": public_url,
            "privacyUrl": privacy_url,
            "termsOfUseUrl": terms_url,
        },
        "name": {"short": name, "full": f"{name}: Pain Management Programme"},
        "description": {"short": DESCRIPTION_SHORT, "full": DESCRIPTION_FULL},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": app_id,
                "scopes": ["personal", "team"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {
                        "scopes": ["personal"],
                        "commands": [{"title": t, "description": d} for t, d in COMMANDS],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [urlsplit(public_url).hostname],
    }


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(size: int, pixel: Callable[[float, float], tuple[int, ...]], alpha: bool) -> bytes:
    """A square PNG (8-bit RGB, or RGBA with `alpha`), each pixel from its centre (0 to 1)."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # no filter
        for x in range(size):
            rows.extend(pixel((x + 0.5) / size, (y + 0.5) / size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _in_bubble(u: float, v: float) -> bool:
    """Whether a point (0 to 1 across and down) is inside the speech bubble."""
    left, right, top, bottom, radius = 0.18, 0.82, 0.22, 0.66, 0.12
    # The tail: a triangle below the bubble's left half.
    if bottom <= v <= 0.82 and 0.30 <= u <= 0.48 - (v - bottom) * (0.18 / 0.16):
        return True
    if not (left <= u <= right and top <= v <= bottom):
        return False
    cx = min(max(u, left + radius), right - radius)
    cy = min(max(v, top + radius), bottom - radius)
    return (u - cx) ** 2 + (v - cy) ** 2 <= radius**2


def _in_dot(u: float, v: float) -> bool:
    """Whether a point is in one of the three dots inside the bubble."""
    return any((u - cx) ** 2 + (v - 0.44) ** 2 <= 0.05**2 for cx in (0.34, 0.50, 0.66))


def _coverage(u: float, v: float, step: float, inside: Callable[[float, float], bool]) -> float:
    """How much of a pixel `inside` covers, from a 3 × 3 grid of samples (smooth edges)."""
    offsets = (-step / 3, 0.0, step / 3)
    return sum(inside(u + dx, v + dy) for dx in offsets for dy in offsets) / 9


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], share: float) -> tuple[int, ...]:
    """Colour `a` with `share` of `b` over it."""
    return tuple(round(x + (y - x) * share) for x, y in zip(a, b, strict=True))


def color_icon() -> bytes:
    """The 192 × 192 full-colour icon: a white speech bubble on NHS Blue."""
    step = 1 / 192

    def pixel(u: float, v: float) -> tuple[int, ...]:
        bubble = _coverage(u, v, step, lambda a, b: _in_bubble(a, b) and not _in_dot(a, b))
        return _mix(ACCENT, WHITE, bubble)

    return png(192, pixel, alpha=False)


def outline_icon() -> bytes:
    """The 32 × 32 outline icon: the same bubble in white on transparent, as Teams asks,
    filling the square (an outline icon has no padding)."""
    scale = 0.68  # the bubble's 0.64 width across 0.94 of the icon
    step = scale / 32

    def pixel(u: float, v: float) -> tuple[int, ...]:
        u, v = 0.5 + (u - 0.5) * scale, 0.52 + (v - 0.5) * scale
        return (*WHITE, round(255 * _coverage(u, v, step, _in_bubble)))

    return png(32, pixel, alpha=True)


def package(manifest_json: dict[str, Any]) -> dict[str, bytes]:
    """The files of the app package, at its root as Teams expects."""
    return {
        "manifest.json": json.dumps(manifest_json, indent=2, ensure_ascii=False).encode(),
        "color.png": color_icon(),
        "outline.png": outline_icon(),
    }


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    """Write the package, with fixed dates so the same settings give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


@teams.command("manifest")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Where to write the app package (a zip).",
)
@click.option(
    "--name", default=DEFAULT_NAME, show_default=True, help="The app's name in Teams (30 at most)."
)
@click.option(
    "--privacy-url",
    metavar="URL",
    help="The trust's privacy notice for the app (https). Default: WEB_PUBLIC_URL.",
)
@click.option(
    "--terms-url", help="Its terms of use (https). Default: WEB_PUBLIC_URL.", metavar="URL"
)
def teams_manifest(output: Path, name: str, privacy_url: str | None, terms_url: str | None) -> None:
    """Write the Teams app package (manifest.json and two icons) for TEAMS_APP_ID, to upload
    in the Teams admin centre."""
    settings = _settings()
    if not settings.teams_app_id:
        raise click.UsageError(
            "TEAMS_APP_ID is not set: put the application (client) id of the bot's app "
            "registration in .env first."
        )
    if not _GUID.match(settings.teams_app_id):
        raise click.UsageError(
            "TEAMS_APP_ID must be the application (client) id of the app registration, "
            "like 00000000-0000-0000-0000-000000000000."
        )
    public_url = _https(settings.web_public_url, "WEB_PUBLIC_URL")
    name = name.strip()
    if not name or len(name) > _SHORT_NAME_MAX:
        raise click.UsageError(f"--name must be 1 to {_SHORT_NAME_MAX} characters long.")
    privacy = _https(privacy_url, "--privacy-url") if privacy_url else public_url
    terms = _https(terms_url, "--terms-url") if terms_url else public_url

    files = package(manifest(settings, name, public_url, privacy, terms))
    try:
        _write_zip(output, files)
    except OSError as error:
        raise click.UsageError(f"Could not write {output}: {error.strerror}.") from None
    click.echo(
        f"Wrote the Teams app package to {output.resolve()}.\n"
        "Upload it in the Teams admin centre (Teams apps > Manage apps > Upload new app).\n"
        f"The Azure Bot's messaging endpoint must be {public_url}{MESSAGES_PATH}"
    )
