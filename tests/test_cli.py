"""The `pmp` command line, run as staff would run it."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.clock import ManualClock, SystemClock
from bot.db.migrate import alembic_config
from bot.db.models import Cohort, Invite
from bot.runtime import Runtime
from tests.helpers import Chat, enrol_patient, make_invites


async def runtime_cohort(runtime: Runtime) -> Cohort:
    """The one group the test made."""
    async with runtime.sessions() as session:
        cohort = await session.get(Cohort, 1)
        assert cohort is not None
        return cohort


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> CliRunner:
    """A runner whose settings point at the test database."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "pmp_test_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return CliRunner()


def run(cli: CliRunner, *args: str) -> dict | list:  # type: ignore[type-arg]
    result = cli.invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cohort_and_invites_from_the_command_line(cli: CliRunner) -> None:
    created = run(
        cli,
        "cohort",
        "create",
        "--name",
        "Spring online",
        "--start",
        "2027-03-01",
        "--mode",
        "online",
        "--video-link",
        "https://video.example.org/spring",
    )
    assert isinstance(created, dict)
    cohort_id = str(created["id"])
    assert created["programme_days"][0] == "2027-03-01"
    assert created["programme_days"][-1] == "2027-03-18"

    made = run(cli, "invite", "create", "--cohort", cohort_id, "--count", "3")
    assert isinstance(made, list) and len(made) == 3
    for invite in made:
        assert invite["link"] == f"https://t.me/pmp_test_bot?start={invite['code']}"
        assert date.fromisoformat(invite["expires_at"][:10]) > date(2026, 1, 1)
    staff = run(cli, "invite", "create", "--cohort", cohort_id, "--role", "staff")
    assert isinstance(staff, list) and staff[0]["role"] == "staff"

    shown = run(cli, "cohort", "show", cohort_id)
    assert isinstance(shown, dict)
    assert shown["invites"] == {"total": 4, "used": 0} and shown["patients"] == []
    listed_invites = run(cli, "invite", "list", "--cohort", cohort_id)
    assert [i["status"] for i in listed_invites] == ["unused"] * 4  # type: ignore[index]
    listed = run(cli, "cohort", "list")
    assert [c["name"] for c in listed] == ["Spring online"]  # type: ignore[index]

    text = cli.invoke(main, ["cohort", "show", cohort_id]).output
    assert "day12     Day 12           Thu 18 Mar 2027  09:30" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "cohort",
                "create",
                "--name",
                "A",
                "--start",
                "2027-03-02",
                "--mode",
                "online",
                "--video-link",
                "https://v.example.org",
            ],
            "must be a Monday",
        ),
        (
            ["cohort", "create", "--name", "A", "--start", "2027-03-01", "--mode", "in-person"],
            "needs a --location",
        ),
        (
            ["cohort", "create", "--name", "A", "--start", "1 March", "--mode", "online"],
            "Invalid value for '--start'",
        ),
        (["cohort", "show", "999"], "no group with id 999"),
        (["invite", "create", "--cohort", "999"], "no group with id 999"),
        (["invite", "create", "--cohort", "1", "--role", "doctor"], "Invalid value for '--role'"),
        (["invite", "create", "--cohort", "1", "--count", "0"], "Invalid value for '--count'"),
    ],
)
def test_bad_input_is_explained(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_every_command_has_help(cli: CliRunner) -> None:
    for args in (
        ["run"],
        ["demo"],
        ["db", "upgrade"],
        ["cohort", "create"],
        ["cohort", "list"],
        ["cohort", "show"],
        ["invite", "create"],
        ["invite", "list"],
    ):
        result = cli.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, args


def test_db_upgrade(cli: CliRunner) -> None:
    result = cli.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert run(cli, "db", "upgrade") == {"revision": head}


async def test_staff_see_who_joined_and_which_codes_are_left(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime, name="Robin")
    cohort_id = 1
    await chat.command("today")
    _spare, declined, expired = await make_invites(runtime, await runtime_cohort(runtime), count=3)
    decliner = Chat(runtime, user_id="decliner")
    await decliner.command("start", declined.code)
    await decliner.press("No, thank you")
    # The command line judges expiry by the real clock, not the test's: date the codes so.
    real_now = SystemClock().now()
    async with runtime.sessions() as session, session.begin():
        for invite in await session.scalars(select(Invite)):
            invite.expires_at = real_now + timedelta(days=14)
        stored = await session.get(Invite, expired.id)
        assert stored is not None
        stored.expires_at = real_now - timedelta(days=1)
    shown = await asyncio.to_thread(run, cli, "cohort", "show", str(cohort_id))
    assert isinstance(shown, dict)
    assert [(p["reference"], p["name"], p["reachable"]) for p in shown["patients"]] == [
        ("P1", "Robin", True)
    ]
    listed = await asyncio.to_thread(run, cli, "invite", "list", "--cohort", str(cohort_id))
    assert [i["status"] for i in listed] == ["used", "unused", "declined", "expired"]  # type: ignore[index]
