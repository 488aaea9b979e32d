"""Turns that arrive together share a transaction, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.turns import TurnOutcome
from bot.clock import ManualClock
from bot.db.models import Conversation, InboxUpdate, Person
from bot.messages import Incoming
from dialogs import flows
from dialogs.engine import Form, Step
from dialogs.turn import Turn
from tests.dialogs.test_attendance import event_of, group, own_event
from tests.helpers import (
    RecordingSender,
    count,
    enrol_patient,
    make_cohort,
    make_invites,
    new_invite,
    put_in_form,
)


def event(user: str, update_id: str, **fields: Any) -> Incoming:
    return Incoming(channel="console", user_id=user, chat_id=user, update_id=update_id, **fields)


async def test_one_persons_steps_in_one_batch_follow_each_other(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    runner = runtime.runner({"console": "staff"})
    first = await runner.run_batch(
        [event("p", "1", kind="command", command="start", text=invite.code)]
    )
    payload = first[0].replies[-1].buttons["rows"][0][0][1]  # type: ignore[index]
    await runner.deliver_all(first, {"console": RecordingSender()})
    outcomes = await runner.run_batch(
        [
            event("p", "2", kind="button", payload=payload),
            event("p", "3", kind="text", text="Robin"),
            event("p", "3", kind="text", text="Robin"),  # the same update twice in the batch
            event("p", "4", kind="command", command="today"),
        ]
    )
    texts = [[row.text for row in outcome.replies] for outcome in outcomes]
    assert "What would you like us to call you?" in texts[0][0]
    assert texts[1][0].startswith("Thank you, Robin.")
    assert outcomes[2].duplicate and texts[2] == []
    assert "starts on Monday 7 December 2026" in texts[3][0]
    assert await count(runtime, Person) == 1


async def _explode(turn: Turn, data: dict[str, Any]) -> None:
    raise RuntimeError("a bug in one dialog")


BROKEN = Form(
    name="test_broken", steps=(Step("x", "common/choose_button", "text"),), finish=_explode
)


async def test_a_failing_turn_does_not_take_the_batch_with_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(flows.FORMS, BROKEN.name, BROKEN)
    await put_in_form(runtime, "console", "unlucky", BROKEN)
    runner = runtime.runner({"console": "staff"})
    results = await runner.run_together(
        [
            event("stranger-a", "10", kind="text", text="hello"),
            event("unlucky", "11", kind="text", text="anything"),
            event("stranger-b", "12", kind="text", text="hello"),
        ]
    )
    assert isinstance(results[0], TurnOutcome) and isinstance(results[2], TurnOutcome)
    assert isinstance(results[1], RuntimeError)
    assert "I can only help people taking part" in results[2].replies[0].text
    # The failed update left no inbox row, so its redelivery will be handled afresh.
    async with runtime.sessions() as session:
        ids = set(await session.scalars(select(InboxUpdate.update_id)))
    assert ids == {"10", "12"}
    sender = RecordingSender()
    await runner.deliver_all(
        [r for r in results if isinstance(r, TurnOutcome)], {"console": sender}
    )
    assert [chat for chat, _reply in sender.sent] == ["stranger-a", "stranger-b"]


async def test_two_instances_handling_the_same_update_have_one_effect(runtime: Runtime) -> None:
    """Two bot processes (separate engines) racing on one redelivered update."""
    from bot.app.runtime import open_runtime

    invite = await new_invite(runtime)
    other = await open_runtime(runtime.settings, runtime.clock, migrate=False)
    try:
        first, second = runtime.runner({}), other.runner({})
        start = event("racer", "77", kind="command", command="start", text=invite.code)
        results = await asyncio.gather(
            first.run_together([start]), second.run_together([start]), return_exceptions=True
        )
        outcomes = [r[0] for r in results if isinstance(r, list) and isinstance(r[0], TurnOutcome)]
        # One of them handled it; the other saw a duplicate (or lost a lock race and will
        # be retried, which then sees the duplicate).
        assert sum(1 for o in outcomes if not o.duplicate) == 1
        assert await count(runtime, Conversation) == 1
        retry = await second.run_together([start])
        assert isinstance(retry[0], TurnOutcome) and retry[0].duplicate
    finally:
        await other.close()


def _cohort_event_selects(runtime: Runtime) -> list[str]:
    """Every statement that reads the groups' events, as it runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM cohort_event" in statement:
            seen.append(statement)

    sqlalchemy.event.listen(runtime.engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_turns_in_one_batch_load_everyone_s_events_once(runtime: Runtime) -> None:
    first = await enrol_patient(runtime, "p1", "Robin")
    second = await enrol_patient(runtime, "p2", "Sam")
    selects = _cohort_event_selects(runtime)
    runner = runtime.runner({"console": "staff"})
    outcomes = await runner.run_batch(
        [
            event(first.user_id, "t1", kind="command", command="today"),
            event(second.user_id, "t2", kind="command", command="today"),
            event(first.user_id, "t3", kind="command", command="schedule"),
        ]
    )
    texts = [outcome.replies[0].text for outcome in outcomes]
    assert all("starts on Monday 7 December 2026" in text for text in texts[:2])
    assert "Day 1: Monday 7 December, 09:30" in texts[2]
    assert len(selects) == 1


async def test_a_review_booked_in_a_batch_is_seen_by_the_next_turn_in_it(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    near = await group(runtime, date(2026, 12, 14), "Monday Group B")
    own = await own_event(runtime, "review", 1)
    theirs = await event_of(runtime, near.id, "review", 1)
    clock.set(datetime(2027, 1, 18, 18, 5, tzinfo=UTC))  # the week-before reminder came
    runner = runtime.runner({"console": "staff"})
    outcomes = await runner.run_batch(
        [
            event(chat.user_id, "b1", kind="button", payload=f"a:{own}:no"),
            event(chat.user_id, "b2", kind="button", payload=f"r:{own}:{theirs.id}"),
            event(chat.user_id, "b3", kind="command", command="schedule"),
        ]
    )
    assert "You can come to another group review instead" in outcomes[0].replies[-1].text
    assert "You are booked on the 1-month review on Thursday 4 February 2027" in (
        outcomes[1].replies[0].text
    )
    schedule = outcomes[2].replies[0].text
    assert "1-month review: Thursday 4 February, 10:00" in schedule
    assert "with another group, at Day Unit, Room 2" in schedule
