"""The `pmp` command line, run as staff would run it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from bot.app.cli import main
from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.db.migrate import alembic_config
from bot.db.models import Cohort, Invite
from tests.helpers import Chat, CliForTests, enrol_patient, make_invites


async def runtime_cohort(runtime: Runtime) -> Cohort:
    """The one group the test made."""
    async with runtime.sessions() as session:
        cohort = await session.get(Cohort, 1)
        assert cohort is not None
        return cohort


@pytest.fixture
def cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object, clock: ManualClock
) -> CliRunner:
    """A runner whose settings point at the test database and whose commands see the test's
    clock (dates in the past are refused, so the real clock would make these tests age)."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "pmp_test_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TIMEZONE", raising=False)
    monkeypatch.delenv("INVITE_VALID_DAYS", raising=False)

    async def with_test_clock(
        settings: Settings, _clock: object = None, migrate: bool = True
    ) -> Runtime:
        return await open_runtime(settings, clock, migrate=False)

    return CliForTests(with_test_clock)


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
        # Made on 26 November: they last until day 1 (Monday 1 March 2027) is over.
        assert invite["expires_at"] == "2027-03-02T00:00:00+00:00"
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
    async with runtime.sessions() as session, session.begin():
        stored = await session.get(Invite, expired.id)
        assert stored is not None
        stored.expires_at = clock.now() - timedelta(days=1)
    shown = await asyncio.to_thread(run, cli, "cohort", "show", str(cohort_id))
    assert isinstance(shown, dict)
    assert [(p["reference"], p["name"], p["reachable"]) for p in shown["patients"]] == [
        ("P1", "Robin", True)
    ]
    listed = await asyncio.to_thread(run, cli, "invite", "list", "--cohort", str(cohort_id))
    assert [i["status"] for i in listed] == ["used", "unused", "declined", "expired"]  # type: ignore[index]


# --- issue 13: an invite outlives nothing it is needed for ------------------------------


def create(cli: CliRunner, start: str, *extra: str) -> str:
    """A group made from the command line; its id."""
    created = run(cli, "cohort", "create", "--name", "Group", "--start", start, *ONLINE, *extra)
    assert isinstance(created, dict)
    return str(created["id"])


ONLINE = ["--mode", "online", "--video-link", "https://video.example.org/pmp"]


def test_an_invite_made_early_works_until_the_first_day_is_over(cli: CliRunner) -> None:
    # Made on Thursday 26 November 2026 for a group starting in the summer (British Summer
    # Time): fourteen days would end in December, long before the group starts.
    cohort_id = create(cli, "2027-06-07")
    (made,) = run(cli, "invite", "create", "--cohort", cohort_id)  # type: ignore[misc]
    assert made["expires_at"] == "2027-06-07T23:00:00+00:00"  # midnight in London
    result = cli.invoke(main, ["invite", "create", "--cohort", cohort_id, "--count", "2"])
    assert result.exit_code == 0, result.output
    first, *codes = result.output.splitlines()
    assert first == (
        f"2 patient codes for group {cohort_id} (Group). Each works once, until the end of"
        " Mon 07 Jun 2027 (the group's first day)."
    )
    assert len(codes) == 2 and all("https://t.me/pmp_test_bot?start=" in c for c in codes)
    listed = cli.invoke(main, ["invite", "list", "--cohort", cohort_id]).output
    assert "unused    expiry: the end of Mon 07 Jun 2027" in listed


def test_an_invite_for_a_group_starting_soon_lasts_the_usual_fourteen_days(
    cli: CliRunner,
) -> None:
    cohort_id = create(cli, "2026-12-07")
    result = cli.invoke(main, ["invite", "create", "--cohort", cohort_id, "--role", "staff"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"1 staff code for group {cohort_id} (Group). Each works once, until"
        " Thu 10 Dec 2026 10:00 (UK time)."
    )


@pytest.mark.parametrize("role", ["patient", "staff"])
def test_no_invites_for_a_group_that_has_finished(cli: CliRunner, role: str) -> None:
    cohort_id = create(cli, "2026-11-02", "--allow-past")  # day 12: Thursday 19 November
    result = cli.invoke(main, ["invite", "create", "--cohort", cohort_id, "--role", role])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Group {cohort_id} (Group) has finished: its last day was Thursday 19 November"
        " 2026. Invite people to a group that has not finished."
    )
    assert run(cli, "invite", "list", "--cohort", cohort_id) == []
