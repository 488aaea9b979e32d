"""Faults: a turn killed at every step, replays, a process killed before the alert went out,
and staff channels (the group, Teams) failing for ten minutes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import bot.app.turns
from bot.app.channels.teams_alerts import TeamsSender
from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Escalation, OutboxMessage
from scheduler import dispatcher as dispatcher_module
from scheduler.dispatcher import Dispatcher
from scheduler.escalations import EscalationWatchdog
from tests.alerts.test_teams import Workflow, client, workflow  # noqa: F401 (fixtures)
from tests.conftest import LEAD_ID
from tests.escalation_support import STAFF_GROUP, Desk, Team, escalations, make_team
from tests.helpers import Chat, enrol_patient


class Killed(Exception):
    """The process dying at this point."""


async def to_last_step(patient: Chat) -> None:
    """A pain report up to its last question."""
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("8")
    await patient.press("No, none of these")
    await patient.say("Much worse since yesterday")


def last_answer_payload(patient: Chat) -> str:
    """The payload of the "Yes, please contact me" button now showing."""
    for reply in reversed(patient.replies):
        for row in reply.buttons:
            for button in row:
                if button.label == "Yes, please contact me":
                    return button.payload
    raise AssertionError("no contact question")


def kill_after(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run `original`, then die."""

    async def dying(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)
        raise Killed

    return dying


BOUNDARIES = ["after_inbox", "after_dialog", "before_reply_sent", "sent_but_not_recorded"]


@pytest.mark.parametrize("boundary", BOUNDARIES)
async def test_a_turn_killed_at_any_step_leaves_one_escalation_and_its_alert(
    runtime: Runtime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, boundary: str
) -> None:
    team = await make_team(runtime, clock)
    patient = await enrol_patient(runtime)
    await to_last_step(patient)
    payload = last_answer_payload(patient)
    with monkeypatch.context() as patch:
        if boundary == "after_inbox":
            patch.setattr(bot.app.turns, "_record_inbox", kill_after(bot.app.turns._record_inbox))
        elif boundary == "after_dialog":
            patch.setattr(bot.app.turns, "route", kill_after(bot.app.turns.route))
        elif boundary == "before_reply_sent":

            async def dead(*_args: Any, **_kwargs: Any) -> Any:
                raise Killed

            patch.setattr(dispatcher_module, "send_rows", dead)
        else:

            async def dies_before_recording(*_args: Any, **_kwargs: Any) -> Any:
                raise Killed

            patch.setattr(dispatcher_module, "record", dies_before_recording)
        with pytest.raises(Killed):
            await patient.event(update_id="last-answer", kind="button", payload=payload)
    # Restarted: Telegram hands the unconfirmed update over again; claims left by the dead
    # process are taken over once their lease has run out.
    await patient.event(update_id="last-answer", kind="button", payload=payload)
    clock.advance(timedelta(minutes=3))
    await team.deliver()
    (escalation,) = await escalations(runtime)
    assert escalation.complete and escalation.contact_wanted is True
    assert len(team.desk.alerts()) == 1
    told = [text for text in team.desk.texts(patient.user_id) if "I have sent this" in text]
    delivered_directly = [r for r in patient.sender.sent if "I have sent this" in r[1].text]
    assert len(told) + len(delivered_directly) >= 1  # the patient heard it went


async def test_the_same_update_three_times_makes_one_escalation(
    runtime: Runtime, clock: ManualClock
) -> None:
    team = await make_team(runtime, clock)
    patient = await enrol_patient(runtime)
    for _ in range(3):
        await patient.event(update_id="same", kind="text", text="I want to kill myself")
    await team.deliver()
    assert len(await escalations(runtime)) == 1
    assert len(team.desk.alerts()) == 1


async def test_a_process_killed_before_the_alert_went_out_sends_it_after_restart(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await to_last_step(patient)
    await patient.press("Yes, please contact me")  # committed; nothing has sent the alert yet
    desk = Desk(clock)
    restarted = Dispatcher(runtime.sessions, {"console": desk}, clock)
    await restarted.drain()
    assert len(desk.alerts()) == 1
    await restarted.drain()
    assert len(desk.alerts()) == 1


async def ten_minutes_of_ticks(team: Team, clock: ManualClock) -> None:
    for _ in range(20):
        clock.advance(timedelta(seconds=30))
        await team.deliver()


async def test_a_staff_group_down_for_ten_minutes_gets_the_alert_once_when_back(
    runtime: Runtime, clock: ManualClock
) -> None:
    team = await make_team(runtime, clock)
    patient = await enrol_patient(runtime)
    team.desk.failing.add(STAFF_GROUP)
    await patient.say("I want to kill myself")
    await ten_minutes_of_ticks(team, clock)
    assert team.desk.alerts() == []
    assert team.desk.attempts > 5  # retried all along, never given up
    async with runtime.sessions() as session:
        statuses = set(
            await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "alert"))
        )
    assert statuses == {"pending"}
    team.desk.failing.clear()
    clock.advance(timedelta(minutes=5))
    await team.deliver()
    # The original and its re-sends (it was unacknowledged all along) now arrive, each once.
    texts = [reply.text.splitlines()[0] for reply in team.desk.alerts()]
    assert texts[0] == "URGENT RISK: risk language"
    assert set(texts[1:]) == {"UNACKNOWLEDGED: URGENT RISK: risk language"}
    async with runtime.sessions() as session:
        rows = list(
            await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "alert"))
        )
    assert rows == ["sent"] * len(texts)  # each alert row delivered exactly once
    await team.deliver()
    assert len(team.desk.alerts()) == len(texts)


@pytest.fixture
async def teams_runtime(runtime: Runtime, workflow: Workflow) -> AsyncIterator[Runtime]:  # noqa: F811
    settings = runtime.settings.model_copy(
        update={"teams_webhook_url": workflow.url, "staff_lead_telegram_ids": [LEAD_ID]}
    )
    yield dataclasses.replace(runtime, settings=settings)


async def teams_team(
    runtime: Runtime,
    clock: ManualClock,
    client: httpx.AsyncClient,  # noqa: F811
) -> Team:
    team = await make_team(runtime, clock)
    senders = {"console": team.desk, "teams": TeamsSender(team_url(runtime), client=client)}
    team.dispatcher = Dispatcher(runtime.sessions, senders, clock)
    team.watchdog = EscalationWatchdog(runtime.sessions, team.staff.runner.escalator)
    return team


def team_url(runtime: Runtime) -> str:
    return runtime.settings.teams_webhook_url


async def test_the_alert_reaches_teams_as_an_adaptive_card_without_the_patients_words(
    teams_runtime: Runtime,
    clock: ManualClock,
    workflow: Workflow,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    team = await teams_team(teams_runtime, clock, client)
    patient = await enrol_patient(teams_runtime)
    await to_last_step(patient)
    await patient.press("Yes, please contact me")
    await team.deliver()
    assert len(team.desk.alerts()) == 1 and len(workflow.bodies) == 1
    posted = workflow.posted
    assert posted["type"] == "message"
    (attachment,) = posted["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "New report"
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Severity"] == "8 out of 10"
    assert "First name" not in facts and "Robin" not in str(card)  # the reference only
    assert facts["Reference"].startswith("P")
    assert "yesterday" not in str(card)
    assert not any(item.get("type") == "ActionSet" for item in card["body"])
    # Acknowledged in the group: Teams is told, as a card cannot be edited.
    await team.press(1, "Acknowledge")
    await team.deliver()
    assert len(workflow.bodies) == 2
    assert "Acknowledged by Sam" in str(workflow.card)


async def test_teams_down_for_ten_minutes_is_retried_and_the_group_still_has_it(
    teams_runtime: Runtime,
    clock: ManualClock,
    workflow: Workflow,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    team = await teams_team(teams_runtime, clock, client)
    patient = await enrol_patient(teams_runtime)
    workflow.mode = "fail"
    await patient.say("I want to kill myself")
    await team.deliver()
    assert len(team.desk.alerts()) == 1  # the group is not held up by Teams
    await team.press(1, "Acknowledge")  # seen in the group: nothing more to chase
    await ten_minutes_of_ticks(team, clock)
    failed_posts = len(workflow.bodies)
    assert failed_posts > 3
    workflow.mode = "accept"
    clock.advance(timedelta(minutes=5))
    await team.deliver()
    await team.deliver()
    accepted = workflow.bodies[failed_posts:]
    # Once back, Teams gets the news once: the alert itself was seen and acknowledged in the
    # group meanwhile, so it is not sent late (it would only invite a second response).
    assert len(accepted) == 1
    assert "Acknowledged by Sam" in str(workflow.card)


@pytest.mark.parametrize("teams_works", [True, False])
async def test_a_failing_staff_group_is_backed_up_by_the_leads_unless_teams_has_it(
    teams_runtime: Runtime,
    clock: ManualClock,
    workflow: Workflow,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    teams_works: bool,
) -> None:
    # Leads are Telegram accounts: this patient and the desk are on Telegram.
    team = await teams_team(teams_runtime, clock, client)
    team.desk.channel = "telegram"
    team.dispatcher = Dispatcher(
        teams_runtime.sessions,
        {"telegram": team.desk, "teams": TeamsSender(workflow.url, client=client)},
        clock,
    )
    patient = Chat(teams_runtime, user_id="9001", channel="telegram")
    from tests.helpers import make_cohort, make_invites

    (invite,) = await make_invites(teams_runtime, await make_cohort(teams_runtime))
    await patient.command("start", invite.code)
    await patient.press("Yes, I agree")
    await patient.say("Robin")
    team.desk.failing.add(STAFF_GROUP)
    workflow.mode = "accept" if teams_works else "fail"
    await patient.say("I want to kill myself")
    for _ in range(4):  # long enough for three failed tries, not yet a re-alert
        clock.advance(timedelta(seconds=20))
        await team.deliver()
    lead_copies = team.desk.texts(str(LEAD_ID))
    if teams_works:
        assert lead_copies == []  # staff have it in Teams: nobody is paged twice
        assert len(workflow.bodies) == 1
    else:
        (copy,) = lead_copies
        assert copy.startswith("URGENT RISK") and "other staff channel failing" in copy
        assert "kill" not in copy


async def test_every_route_failing_is_logged_at_error_and_retried(
    runtime: Runtime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    team = await make_team(runtime, clock)
    patient = await enrol_patient(runtime)
    team.desk.failing.add("*")
    await patient.say("I want to kill myself")
    with caplog.at_level(logging.ERROR):
        await ten_minutes_of_ticks(team, clock)
    assert "every route for a staff alert is failing" in caplog.text
    assert "kill" not in caplog.text
    async with runtime.sessions() as session:
        alert = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "alert"))
    assert alert is not None and alert.status == "pending" and alert.attempts >= 5
    escalation = (await escalations(runtime))[0]
    assert isinstance(escalation, Escalation)


async def test_teams_asking_us_to_wait_does_not_hold_up_the_staff_group(
    teams_runtime: Runtime,
    clock: ManualClock,
    workflow: Workflow,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    team = await teams_team(teams_runtime, clock, client)
    workflow.mode, workflow.retry_after = "throttle", "600"
    first = await enrol_patient(teams_runtime, user_id="patient-1")
    second = await enrol_patient(teams_runtime, user_id="patient-2", name="Kit")
    await first.say("I want to kill myself")
    await team.deliver()
    assert len(team.desk.alerts()) == 1
    assert team.dispatcher.resume_at.get("teams") is not None
    clock.advance(timedelta(seconds=30))
    await second.say("I'm going to end my life")
    await team.deliver()
    assert len(team.desk.alerts()) == 2  # Telegram's group was not made to wait 10 minutes


async def test_a_hanging_teams_webhook_holds_up_no_staff_group_alert(
    teams_runtime: Runtime,
    clock: ManualClock,
    workflow: Workflow,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    team = await teams_team(teams_runtime, clock, client)
    workflow.mode = "hang"
    first = await enrol_patient(teams_runtime, user_id="patient-1")
    second = await enrol_patient(teams_runtime, user_id="patient-2", name="Kit")
    await first.say("I want to kill myself")
    await second.say("I'm going to end my life")
    sending = asyncio.create_task(team.dispatcher.send_urgent())
    try:
        for _ in range(1000):
            if workflow.bodies and len(team.desk.alerts()) == 2:
                break
            await asyncio.sleep(0.01)
        assert workflow.bodies and not sending.done()  # Teams is still hanging...
        assert len(team.desk.alerts()) == 2  # ...and the staff group already has both
    finally:
        workflow.release.set()
        await sending
