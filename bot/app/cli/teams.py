"""`pmp teams`: the Microsoft Teams app package that IT uploads to the hospital's tenant."""

from __future__ import annotations

import json
import re
import zipfile
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
# The app's two icons, made once and kept with the other content.
ICONS = Path(__file__).resolve().parents[3] / "content" / "teams"
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


def package(manifest_json: dict[str, Any]) -> dict[str, bytes]:
    """The files of the app package, at its root as Teams expects."""
    return {
        "manifest.json": json.dumps(manifest_json, indent=2, ensure_ascii=False).encode(),
        # A white speech bubble on NHS Blue (192 × 192), and in white on transparent (32 × 32).
        "color.png": (ICONS / "color.png").read_bytes(),
        "outline.png": (ICONS / "outline.png").read_bytes(),
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
