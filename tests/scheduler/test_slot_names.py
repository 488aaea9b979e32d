"""Every slot name fits the column that stores it (SQLite would not notice; PostgreSQL would)."""

from __future__ import annotations

from bot.db.models import ScheduledMessage
from dialogs.flows import NUDGE_RENDERERS
from scheduler import planner


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
