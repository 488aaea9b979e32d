"""The terminal demo walks a patient through planning and reflecting on a thought challenge."""

from __future__ import annotations

from pathlib import Path

from tests.test_demo import run_with_input

THOUGHT = "If I walk to the shops, I will be in bed for two days"


async def test_demo_plans_a_challenge_gets_the_nudge_reflects_and_shares(tmp_path: Path) -> None:
    typed = [
        "1",
        "Robin",
        "!day 1",  # Monday of week one, 08:00
        "/challenge",
        THOUGHT,
        "75% - mostly",
        "Walk to the corner shop at 10",
        "My back will seize up",
        "Skip",
        "10:00",
        "!later 2h",  # the clock moves on: the nudge arrives
        "I've done it: reflect now",
        "I walked there and back, and rested after",
        "Partly",
        "I was sore but not in bed",
        "If I pace the walk, I can manage it",
        "5",  # a number typed on a scale is that number, never the fifth button (100%)
        "Share with the team",
        "Yes, share it",
        "!staff",
        "!quit",
    ]
    transcript = await run_with_input(tmp_path, "\n".join(typed) + "\n")
    assert "thought or prediction you would like to test" in transcript
    assert "[0% - not at all]" in transcript and "(type a number)" in transcript
    assert "I will nudge you at 10:00 on Monday" in transcript
    assert "I will ask how it went at 18:00 on Monday" in transcript  # before day 2
    assert "Hello Robin. It is time for your thought challenge" in transcript
    assert "[1] I've done it: reflect now" in transcript
    assert f'Your thought: "{THOUGHT}" (you believed it 75%)' in transcript
    assert "Here is your card for the 09:45 feedback session" in transcript
    assert "Belief before: 75%" in transcript and "Belief after: 5%" in transcript
    assert "I have shared your card with the team" in transcript
    assert "staff │ Thought challenge shared by Robin (P1)" in transcript
