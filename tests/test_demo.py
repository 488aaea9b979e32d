"""The terminal demo, driven through stdin from enrolment to the menu and the staff view."""

from __future__ import annotations

import io
from pathlib import Path

from bot.app.demo import run_demo
from bot.config import HOME, Settings


async def run_with_input(tmp_path: Path, typed: str) -> str:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    )
    out = io.StringIO()
    await run_demo(settings, stdin=io.StringIO(typed), out=out)
    return out.getvalue()


async def test_demo_from_enrolment_to_menu_and_today(tmp_path: Path) -> None:
    transcript = await run_with_input(
        tmp_path,
        "1\nRobin\n!staff\n!day 1\n1\n!later 1d\n/today\n!time\n!bogus\n!quit\nafter quit\n",
    )
    assert "Your joining code is" in transcript
    assert "[1] Yes, I agree   [2] No, thank you" in transcript
    assert "What would you like us to call you?" in transcript
    assert "Thank you, Robin. You have joined Demo group." in transcript
    assert "[1] More pain or distress   [2] Today   [3] My programme" in transcript
    assert "[4] Questions for the doctor   [5] Thought challenge" in transcript
    assert "[6] Home practice   [7] Relaxation" in transcript
    assert "[8] Friends and family day   [9] Reminder settings" in transcript
    # Moving the clock to a programme day brings its morning reminder; "1" answers it.
    assert "Good morning Robin. Today is day 1 of 12. We start at 09:30." in transcript
    assert "[1] I'll be there   [2] Running late   [3] Can't make it" in transcript
    assert "Thank you, Robin. See you at day 1" in transcript
    assert "Today is day 2 of 12. We start at 09:30." in transcript  # next morning's reminder
    # Staff messages show in the transcript as they arrive, marked as the staff group's.
    assert "staff │ A new patient joined Demo group (reference P1)." in transcript
    assert "A new patient joined Demo group (reference P1)." in transcript
    assert "Today is day 1 of 12." in transcript
    assert "Today is day 2 of 12." in transcript
    assert "didn't understand that demo command" in transcript
    assert "after quit" not in transcript


async def test_demo_declining_and_end_of_input(tmp_path: Path) -> None:
    transcript = await run_with_input(tmp_path, "2\n")
    assert "I haven't saved anything about you" in transcript


async def test_demo_starts_afresh_each_time(tmp_path: Path) -> None:
    await run_with_input(tmp_path, "1\nRobin\n")
    transcript = await run_with_input(tmp_path, "")
    assert "You have been invited to join Demo group" in transcript


def test_pmp_demo_through_a_real_stdin(tmp_path: Path) -> None:
    """The command a newcomer runs, fed through a pipe."""
    import os
    import subprocess
    import sys

    pmp = Path(sys.executable).with_name("pmp")
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    done = subprocess.run(
        [str(pmp), "run"],
        input="1\nRobin\n!day 1\n/today\n!quit\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=True,
    )
    assert "starting the terminal demo" in done.stderr
    assert "Thank you, Robin. You have joined Demo group." in done.stdout
    assert "Today is day 1 of 12." in done.stdout
    # The demo's own SQLite file, in the installed folder wherever it was started.
    assert (HOME / "data" / "demo.db").exists()
    assert not (tmp_path / "data").exists()


async def test_every_button_of_a_list_of_questions_can_be_reached(tmp_path: Path) -> None:
    typed = ["1", "Robin", "/question", "1", "First question", "2", "1", "Second question", "2"]
    typed += ["2", "4", "!quit"]  # see my questions; the second question's "Withdraw it"
    transcript = await run_with_input(tmp_path, "\n".join(typed) + "\n")
    listed = transcript.split("Your questions for the doctor.")[1]
    assert "[1] Change it   [2] Withdraw it" in listed
    assert "[3] Change it   [4] Withdraw it" in listed  # numbers run on across the messages
    asked = listed.split("Withdraw this question?")[1]
    assert asked.split("\n")[2].strip().endswith('"Second question"')  # the second one
