"""Nobody forgets an alert: re-sends while unacknowledged, reminders while unresolved."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from scheduler.dispatcher import Dispatcher
from scheduler.escalations import EscalationWatchdog
from tests.conftest import LEAD_ID
from tests.escalation_support import (
    STAFF_GROUP,
    Desk,
    Team,
    audit_actions,
    escalations,
)
from tests.helpers import Chat, enrol_patient


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def report(patient: Chat, severity: str = "5") -> None:
    """A complete, ordinary distress report (not urgent)."""
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press(severity)
    await patient.press("Skip")
    await patient.press("No, thank you")


async def run_to(team: Team, clock: ManualClock, moment: datetime) -> None:
    """Move the clock minute by minute to `moment`, ticking as the bot would."""
    while clock.now() < moment:
        clock.advance(timedelta(minutes=1))
        await team.deliver()


def titles(team: Team) -> list[str]:
    """The first lines of the alerts in the staff group (not other notices)."""
    return [
        reply.text.splitlines()[0]
        for reply in team.desk.chats.get(STAFF_GROUP, [])
        if "\nReference: P" in reply.text
    ]


async def test_an_unacknowledged_alert_is_sent_again_every_15_working_minutes(
    runtime: Runtime, team: Team, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await report(patient)
    await team.deliver()
    assert titles(team)[-1] == "New report"
    await run_to(team, clock, utc(11, 26, 10, 14))
    assert len(team.desk.alerts()) == 1
    await run_to(team, clock, utc(11, 26, 10, 15))
    assert titles(team)[-1] == "UNACKNOWLEDGED: New report"
    await run_to(team, clock, utc(11, 26, 10, 30))
    assert titles(team).count("UNACKNOWLEDGED: New report") == 2
    # Acknowledged from the latest copy: the re-sends stop.
    await team.press(len(team.desk.chats[STAFF_GROUP]), "Acknowledge")
    await run_to(team, clock, utc(11, 26, 12))
    # No more copies; every copy now says who acknowledged it (and no longer "UNACKNOWLEDGED").
    assert titles(team) == ["New report"] * 3
    assert all("Acknowledged by Sam at 10:30" in r.text for r in team.desk.alerts())
    actions = await audit_actions(runtime, 1)
    assert actions.count("unacknowledged") == 2 and "acknowledged" in actions


async def test_an_ordinary_alert_waits_for_working_hours_to_be_sent_again(
    runtime: Runtime, team: Team, clock: ManualClock
) -> None:
    clock.set(utc(11, 26, 16, 50))  # Thursday, ten minutes before the team goes home
    patient = await enrol_patient(runtime)
    await report(patient)
    await team.deliver()
    await run_to(team, clock, utc(11, 27, 9, 4))
    assert len(team.desk.alerts()) == 1  # not all night
    await run_to(team, clock, utc(11, 27, 9, 5))
    assert titles(team)[-1] == "UNACKNOWLEDGED: New report"


async def test_an_urgent_alert_is_sent_again_after_5_minutes_at_any_hour(
    runtime: Runtime, team: Team, clock: ManualClock
) -> None:
    clock.set(utc(11, 29, 2, 0))  # Sunday, 2 a.m.
    patient = await enrol_patient(runtime)
    await patient.say("I want to end it all tonight")
    await team.deliver()
    await run_to(team, clock, utc(11, 29, 2, 4))
    assert len(team.desk.alerts()) == 1
    await run_to(team, clock, utc(11, 29, 2, 5))
    assert titles(team)[-1] == "UNACKNOWLEDGED: URGENT RISK: risk language"
    await run_to(team, clock, utc(11, 29, 2, 10))
    assert len(team.desk.alerts()) == 3


async def test_leads_get_unacknowledged_alerts_privately(
    runtime: Runtime, clock: ManualClock
) -> None:
    settings = runtime.settings.model_copy(update={"staff_lead_telegram_ids": [LEAD_ID]})
    runtime = dataclasses.replace(runtime, settings=settings)
    desk = Desk(clock, channel="telegram")
    patient = Chat(runtime, user_id="9001", channel="telegram")
    await patient.command("start")  # nobody yet: a stranger
    from tests.helpers import make_cohort, make_invites

    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    await patient.command("start", invite.code)
    await patient.press("Yes, I agree")
    await patient.say("Robin")
    await patient.say("I want to kill myself")
    dispatcher = Dispatcher(runtime.sessions, {"telegram": desk}, clock)
    watchdog = EscalationWatchdog(runtime.sessions, patient.runner.escalator)
    await dispatcher.drain()
    assert desk.texts(STAFF_GROUP)[0].startswith("URGENT RISK")
    assert desk.texts(str(LEAD_ID)) == []
    clock.advance(timedelta(minutes=5))
    await watchdog.run(clock.now())
    await dispatcher.drain()
    (lead_copy,) = desk.texts(str(LEAD_ID))
    assert lead_copy.startswith("UNACKNOWLEDGED: URGENT RISK")
    assert "kill" not in lead_copy


async def test_acknowledged_but_unresolved_is_raised_at_the_end_of_the_next_working_day(
    runtime: Runtime, team: Team, clock: ManualClock
) -> None:
    clock.set(utc(11, 27, 11))  # Friday
    patient = await enrol_patient(runtime)
    await report(patient)
    await team.deliver()
    await team.press(1, "Acknowledge")
    await run_to(team, clock, utc(11, 30, 16, 59))  # over the weekend, to Monday afternoon
    assert not any(t.startswith("STILL OPEN") for t in titles(team))
    await run_to(team, clock, utc(11, 30, 17, 0))
    assert titles(team)[-1] == "STILL OPEN, not resolved: New report"
    await run_to(team, clock, utc(12, 1, 17, 0))
    assert titles(team).count("STILL OPEN, not resolved: New report") == 2
    # Resolving ends it.
    (escalation,) = await escalations(runtime)
    last = len(team.desk.chats[STAFF_GROUP])
    await team.press(last, "Resolve")
    await team.staff.say("Spoke on the phone; flare settling.")
    await team.deliver()
    sent = len(titles(team))
    await run_to(team, clock, utc(12, 3, 18, 0))
    assert len(titles(team)) == sent  # nothing more once resolved
    assert all(
        "Resolved by Sam" in reply.text
        for reply in team.desk.chats[STAFF_GROUP]
        if "Reference: P" in reply.text
    )
    assert (await escalations(runtime))[0].status == "resolved"
    assert "unresolved" in await audit_actions(runtime, escalation.id)


async def test_two_watchdogs_ticking_together_send_one_re_alert(
    runtime: Runtime, team: Team, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await report(patient)
    await team.deliver()
    clock.advance(timedelta(minutes=15))
    other = EscalationWatchdog(runtime.sessions, team.watchdog.escalator)
    first, second = await asyncio.gather(team.watchdog.run(clock.now()), other.run(clock.now()))
    assert first.realerted + second.realerted == 1
    await team.dispatcher.drain()
    assert titles(team).count("UNACKNOWLEDGED: New report") == 1
