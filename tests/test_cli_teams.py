"""`pmp teams manifest`: the Teams app package IT uploads, and its kind refusals."""

from __future__ import annotations

import json
import re
import shlex
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.app.cli import common, main
from bot.config import HOME, Settings

APP_ID = "8e1a2c3d-1111-2222-3333-444455556666"
CONSOLE = "https://pmp.trust.nhs.uk"
# The manifest schema's own patterns (v1.19, "semver" and "hexColor").
SEMVER = re.compile(r"^([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)$")
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner in an empty folder, with the Teams bot's settings and no developer's .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    monkeypatch.setenv("TEAMS_APP_PASSWORD", "a client secret")
    monkeypatch.setenv("TEAMS_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
    monkeypatch.setenv("WEB_PUBLIC_URL", CONSOLE + "/")
    monkeypatch.delenv("TEAMS_ALLOW_ANONYMOUS", raising=False)
    monkeypatch.delenv("CLINIC_NAME", raising=False)
    monkeypatch.setattr(common, "settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
    return CliRunner()


def made(cli: CliRunner, *args: str) -> tuple[str, dict[str, bytes]]:
    """Run `pmp teams manifest` with `args`; its output and the files in the zip it wrote."""
    result = cli.invoke(main, ["teams", "manifest", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    output = Path(args[args.index("--output") + 1] if "--output" in args else "pmp-teams-app.zip")
    with zipfile.ZipFile(output) as archive:
        return result.output, {name: archive.read(name) for name in archive.namelist()}


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, colour type and the rows (filter byte removed) of one of our PNGs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    assert data[12:16] == b"IHDR" and b"IEND" in chunks  # IHDR first, IEND last
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + width * channels
    assert len(raw) == stride * height
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # no filter: the bytes are the pixels
    return width, height, colour, [row[1:] for row in rows]


def test_the_package_holds_the_manifest_and_two_icons(cli: CliRunner) -> None:
    output, files = made(cli)
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]
    written = Path("pmp-teams-app.zip").resolve()
    assert f"Wrote the Teams app package to {written}." in output
    assert f"{CONSOLE}/api/messages" in output  # the Azure Bot's messaging endpoint

    manifest = json.loads(files["manifest.json"])
    assert manifest["manifestVersion"] == "1.19"
    assert manifest["$schema"].endswith("/teams/v1.19/MicrosoftTeams.schema.json")
    assert SEMVER.match(manifest["version"])
    assert manifest["id"] == APP_ID
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert bot["supportsFiles"] is False and bot["isNotificationOnly"] is False
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["validDomains"] == ["pmp.trust.nhs.uk"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["developer"]["websiteUrl"] == CONSOLE
    assert "webApplicationInfo" not in manifest  # no single sign-on: Teams names the user


def test_the_manifest_keeps_to_the_schemas_limits(cli: CliRunner) -> None:
    manifest: dict[str, Any] = json.loads(made(cli)[1]["manifest.json"])
    required = {"manifestVersion", "version", "id", "developer", "name", "description"}
    assert required | {"icons", "accentColor"} <= set(manifest)
    developer = manifest["developer"]
    assert 0 < len(developer["name"]) <= 32
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert developer[key].startswith("https://")
    name, description = manifest["name"], manifest["description"]
    assert len(name["short"]) <= 30 and len(name["full"]) <= 100
    assert name["short"] != name["full"]  # Teams asks for two different names
    assert len(description["short"]) <= 80 and len(description["full"]) <= 4000
    assert HEX_COLOUR.match(manifest["accentColor"])
    (commands,) = manifest["bots"][0]["commandLists"]
    assert commands["scopes"] == ["personal"]
    assert 0 < len(commands["commands"]) <= 10
    titles = [command["title"] for command in commands["commands"]]
    assert titles == ["/menu", "/help", "/escalations", "/questions"]
    for command in commands["commands"]:
        assert len(command["title"]) <= 32 and 0 < len(command["description"]) <= 128


def test_the_icons_are_pngs_of_the_sizes_teams_asks_for(cli: CliRunner) -> None:
    files = made(cli)[1]
    width, height, colour, _ = png_pixels(files["color.png"])
    assert (width, height, colour) == (192, 192, 2)  # full colour, opaque
    width, height, colour, rows = png_pixels(files["outline.png"])
    assert (width, height, colour) == (32, 32, 6)  # with transparency
    pixels = [row[x : x + 4] for row in rows for x in range(0, len(row), 4)]
    seen = [p for p in pixels if p[3]]
    assert seen and all(p[:3] == b"\xff\xff\xff" for p in seen)  # white on transparent
    assert pixels[0][3] == 0 and pixels[-1][3] == 0  # corners see through
    assert len(seen) < len(pixels)


def test_another_name_and_place(cli: CliRunner, tmp_path: Path) -> None:
    where = tmp_path / "out" / "pain-team.zip"
    where.parent.mkdir()
    output, files = made(
        cli,
        "--output",
        str(where),
        "--name",
        "Pain Team",
        "--privacy-url",
        "https://www.trust.nhs.uk/privacy",
    )
    assert str(where) in output
    manifest = json.loads(files["manifest.json"])
    assert manifest["name"]["short"] == "Pain Team"
    assert manifest["developer"]["privacyUrl"] == "https://www.trust.nhs.uk/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == CONSOLE


def test_the_same_settings_make_the_same_package(cli: CliRunner) -> None:
    first = Path("pmp-teams-app.zip")
    made(cli)
    before = first.read_bytes()
    made(cli)
    assert first.read_bytes() == before


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"TEAMS_APP_ID": None}, [], "TEAMS_APP_ID is not set"),
        ({"WEB_PUBLIC_URL": "http://pmp.trust.nhs.uk"}, [], "WEB_PUBLIC_URL must be an https"),
        ({"WEB_PUBLIC_URL": None}, [], "WEB_PUBLIC_URL must be an https"),
        ({"TEAMS_APP_ID": "pmp-bot"}, [], "application (client) id"),
        ({"TEAMS_TENANT_ID": None}, [], "TEAMS_APP_ID needs TEAMS_TENANT_ID"),
        ({}, ["--name", "The Pain Management Programme's companion"], "--name must be"),
        ({}, ["--terms-url", "http://www.trust.nhs.uk/terms"], "--terms-url must be an https"),
    ],
)
def test_it_refuses_kindly(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str | None],
    args: list[str],
    message: str,
) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    result = cli.invoke(main, ["teams", "manifest", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not Path("pmp-teams-app.zip").exists()


def test_the_command_is_listed_in_help(cli: CliRunner) -> None:
    assert re.search(r"^\s+teams\s", cli.invoke(main, ["--help"]).output, re.MULTILINE)
    assert "manifest" in cli.invoke(main, ["teams", "--help"]).output


def test_the_readme_command_runs_as_written(cli: CliRunner) -> None:
    """The README's Teams steps show the command in running text (the README test runs its
    bash blocks without Teams settings); it works as written once they are set."""
    readme = (HOME / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Microsoft Teams", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"`(\.venv/bin/pmp teams manifest[^`]*)`", section)
    assert lines
    for line in lines:
        result = cli.invoke(main, shlex.split(line)[1:])
        assert result.exit_code == 0, result.output
