"""Killed at random moments of a crisis storm, the bot loses nothing, repeats only the staff
alerts caught in flight, and keeps nobody waiting half a minute (benchmarks/kill_storm.py runs
fifty kills)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.kill_storm import run_storm

KILLS = 4


async def test_kills_during_a_crisis_storm_lose_nothing_double_no_alert_and_stall_no_one(
    db_url: str, tmp_path: Path
) -> None:
    result = await run_storm(db_url, tmp_path, kills=KILLS, patients=20)
    assert result.kills == KILLS
    assert result.messages == KILLS * 20 * 2
    assert result.unanswered == 0
    assert result.escalations == KILLS * 20  # one per patient per round: none lost
    assert result.alerts_missing == 0
    # A kill repeats the alerts on their way to Telegram at that moment (received there, not
    # yet recorded here). Each turn sends its own at once, so a kill can catch more than one:
    # CI once saw 5 in 4 kills; fifty kills averaged one in two (benchmarks/kill_storm.py).
    # The bound catches a return to recording a batch only after sending it all, which
    # repeated many alerts per kill.
    assert result.duplicate_alerts <= 2 * KILLS, result.summary()
    assert result.worst_wait < 30, result.summary()
