"""The `pmp` command line, run as staff would run it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from bot.cli import main


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
    assert shown["invites"] == {"total": 4, "used": 0} and shown["patients"] == 0
    listed = run(cli, "cohort", "list")
    assert [c["name"] for c in listed] == ["Spring online"]  # type: ignore[index]

    text = cli.invoke(main, ["cohort", "show", cohort_id]).output
    assert "Day 12: Thu 18 Mar 2027" in text


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
    ):
        result = cli.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, args


def test_db_upgrade(cli: CliRunner) -> None:
    result = cli.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
