"""Every slot name fits the column that stores it (SQLite would not notice; PostgreSQL would)."""

from __future__ import annotations

from bot.db.models import ScheduledMessage
from bot.services import planner
from dialogs.flows import NUDGE_RENDERERS


def test_every_slot_fits_the_slot_column() -> None:
    length = ScheduledMessage.__table__.c.slot.type.length  # type: ignore[attr-defined]
    slots = set(planner.EVENT_SLOTS) | {planner.CHALLENGE_NUDGE, planner.CHALLENGE_REFLECT}
    assert all(len(slot) <= length for slot in slots), sorted(s for s in slots if len(s) > length)


def test_every_flow_slot_has_someone_to_word_it() -> None:
    flow_slots = (set(planner.EVENT_SLOTS) - set(planner.REMINDER_SLOTS)) | {
        planner.CHALLENGE_NUDGE,
        planner.CHALLENGE_REFLECT,
    }
    assert set(NUDGE_RENDERERS) == flow_slots


def test_with_a_short_window_the_invitation_comes_without_a_reminder_before_it() -> None:
    from datetime import UTC, date, datetime, time
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/London")
    prefs = planner.Preferences(time(18, 0), time(7, 45), None)
    qa_day = planner.Occasion(1, "day", 10, date(2026, 12, 22), time(9, 30), time(15), time(11, 30))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    long_window = {w.slot for w in planner.wanted(prefs, [qa_day], tz, now)}
    assert {planner.QA_INVITE, planner.QA_REMINDER} <= long_window
    short = planner.FlowTimes(open_days=2, deadline_hours=24)
    short_window = [w for w in planner.wanted(prefs, [qa_day], tz, now, short)]
    slots = {w.slot for w in short_window}
    assert planner.QA_INVITE in slots and planner.QA_REMINDER not in slots
