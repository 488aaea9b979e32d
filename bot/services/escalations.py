"""Escalations: open one, alert staff through the outbox, acknowledge, resolve; all audited.

The lifecycle is reported → alerted → acknowledged → resolved. Every change is a conditional
UPDATE on the status it expects, so two members of staff pressing at once (or two instances)
make exactly one change, and every step writes a row to the audit table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.content import Content
from bot.db.models import Escalation, EscalationEvent, OutboxMessage, Person
from bot.messages import Button, ButtonRows, Payload, Reply
from bot.services.outbox import Priority, Status, outbox_row
from bot.services.people import reference
from bot.time.working_hours import WorkingHours

log = logging.getLogger(__name__)

TEAMS = "teams"
TEAMS_CHAT = "channel"  # a Workflows webhook posts to one channel: there is no chat id
PREFIX = "e"
ACK, RESOLVE, DETAILS = "ack", "res", "det"
OPEN = ("reported", "alerted")
CATEGORIES = ("pain", "distress", "both", "new_worry")
SOMEONE_ELSE = "someone-else"
# The patient's words are kept once, and never longer than a message can carry.
MAX_WORDS = 3000
OUTCOME_MAX_LENGTH = 500


class Result(StrEnum):
    """What a staff action did."""

    DONE = "done"
    ALREADY = "already"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Actor:
    """Who did something: `key` for the audit ("telegram:5001"), `name` for people to read."""

    key: str
    name: str


SYSTEM = Actor("system", "PMP Companion")


@dataclass(frozen=True)
class AlertTargets:
    """Where alerts go: each channel's staff chat, a Teams channel, and leads' private chats."""

    staff_chats: Mapping[str, str]
    teams: bool = False
    # (channel, private chat) of the clinical leads, who also get unacknowledged alerts.
    leads: tuple[tuple[str, str], ...] = ()

    def groups(self, channel: str) -> list[tuple[str, str]]:
        """The staff chats that see an alert about someone on `channel`: every one, the
        patient's own channel first (a Teams patient's alert reaches the Telegram group too)."""
        chats = [(channel, self.staff_chats[channel])] if channel in self.staff_chats else []
        chats += [(other, chat) for other, chat in self.staff_chats.items() if other != channel]
        if self.teams:
            chats.append((TEAMS, TEAMS_CHAT))
        return chats

    def lead_chats(self, channel: str) -> list[tuple[str, str]]:
        """The leads' private chats (on whichever channel each is reached), for an alert
        about someone on `channel`."""
        return list(self.leads)


def shorten(words: str, limit: int = MAX_WORDS) -> str:
    """At most `limit` characters, marked when cut."""
    words = words.strip()
    return words if len(words) <= limit else words[: limit - 1] + "…"


# Answers to a safety question that count as yes: anything but a clear no.
TAKEN_AS_YES = ("yes", "unsure")


def is_urgent(escalation: Escalation) -> bool:
    """Urgent alerts are re-sent after minutes at any hour, not working minutes. Someone else at
    risk is not: the patient has what to do for them, and the team can't reach that person."""
    crisis = escalation.risk == "crisis" and escalation.concern != SOMEONE_ELSE
    return escalation.urgent or crisis or escalation.check_answer in TAKEN_AS_YES


@dataclass(frozen=True)
class Escalator:
    """Opens escalations and writes their staff alerts, in the caller's transaction."""

    content: Content
    targets: AlertTargets
    hours: WorkingHours
    ack_minutes: int = 15
    urgent_ack_minutes: int = 5
    unfinished_minutes: int = 10

    @classmethod
    def from_settings(
        cls, settings: Settings, content: Content, staff_chats: Mapping[str, str]
    ) -> Escalator:
        """The escalator the settings describe."""
        leads = tuple(("telegram", str(user)) for user in settings.staff_lead_telegram_ids)
        return cls(
            content=content,
            targets=AlertTargets(dict(staff_chats), bool(settings.teams_webhook_url), leads),
            hours=WorkingHours.from_settings(settings),
            ack_minutes=settings.escalation_ack_minutes,
            urgent_ack_minutes=settings.escalation_urgent_ack_minutes,
            unfinished_minutes=settings.report_unfinished_minutes,
        )

    # ---- opening and alerting ----------------------------------------------------------

    async def open(
        self,
        session: AsyncSession,
        person: Person,
        now: datetime,
        actor: Actor,
        **fields: Any,
    ) -> Escalation:
        """Store a new escalation (not yet alerted) and audit it."""
        escalation = Escalation(
            person_id=person.id, created_at=now, status="reported", alert_count=0, **fields
        )
        if escalation.details is not None:
            escalation.details = shorten(escalation.details)
        session.add(escalation)
        await session.flush()  # its id goes into buttons and the audit
        audit(session, escalation, "reported", actor, now, escalation.source)
        return escalation

    def wait_for_patient(self, escalation: Escalation, now: datetime) -> None:
        """Alert staff later with what is known, if the patient does not finish first."""
        escalation.next_alert_at = now + timedelta(minutes=self.unfinished_minutes)

    def alert(
        self,
        session: AsyncSession,
        escalation: Escalation,
        person: Person,
        now: datetime,
        kind: str = "new",
    ) -> list[OutboxMessage]:
        """Write the alert to every staff chat (and leads, for a re-alert) and move it on.

        kind: "new", "updated" (the patient finished after staff were told), "unacknowledged"
        or "unresolved" (the watchdog raising it again).
        """
        if kind == "updated" and is_urgent(escalation) and escalation.status not in OPEN:
            # Risk rose after staff had seen (or closed) it: it is open again and chased.
            self._reopen(session, escalation, now)
        chats = self.targets.groups(person.channel)
        if kind in ("unacknowledged", "unresolved"):
            chats += self.targets.lead_chats(person.channel)
        if not chats:
            # Refused at start-up for the bot; kept "reported" here, so it is tried again.
            log.error(
                "no staff channel is configured: an alert cannot be sent",
                extra={"escalation": escalation.id},
            )
            escalation.next_alert_at = now + timedelta(minutes=self.urgent_ack_minutes)
            return []
        text = self.alert_text(escalation, person, kind)
        rows = [
            self.row(channel, chat, escalation, text, self.buttons(escalation, channel), now)
            for channel, chat in chats
        ]
        session.add_all(rows)
        if escalation.status == "reported":
            escalation.status = "alerted"
            escalation.alerted_at = now
        escalation.alert_count += 1
        if escalation.status == "alerted":
            escalation.next_alert_at = self.next_reminder(escalation, now)
        audit(
            session,
            escalation,
            "alerted" if kind == "new" else kind,
            SYSTEM,
            now,
            f"{len(rows)} chats",
        )
        return rows

    @staticmethod
    def _reopen(session: AsyncSession, escalation: Escalation, now: datetime) -> None:
        """Back to "alerted": acknowledged and resolved fields cleared (the audit keeps them)."""
        escalation.status = "alerted"
        escalation.acknowledged_at = escalation.acknowledged_by = None
        escalation.resolved_at = escalation.resolved_by = None
        audit(session, escalation, "reopened", SYSTEM, now, "risk rose")

    def next_reminder(self, escalation: Escalation, now: datetime) -> datetime:
        """When an unacknowledged alert is sent again."""
        if is_urgent(escalation):
            return now + timedelta(minutes=self.urgent_ack_minutes)
        return self.hours.add(now, self.ack_minutes)

    def alert_title(self, escalation: Escalation) -> str:
        """The alert's title as staff read it ("URGENT RISK: risk language")."""
        return self.content.label(f"title_{self._title(escalation)}")

    def alert_text(self, escalation: Escalation, person: Person, kind: str = "new") -> str:
        """What staff read: triage facts only, never the patient's words."""
        title = self.alert_title(escalation)
        if kind == "updated":
            title = f"{self.content.label('title_updated')}: {title}"
        elif kind == "unacknowledged":
            title = f"{self.content.label('title_unacknowledged')}: {title}"
        elif kind == "unresolved":
            title = f"{self.content.label('title_unresolved')}: {title}"
        elif kind == "failover":
            title = f"{title} ({self.content.label('title_failover')})"
        # The staff group sees the reference only; names and words come privately (H-020).
        return self.content.render(
            "escalation/alert",
            title=title,
            reference=reference(person),
            category=self.content.label(f"report_{escalation.category}"),
            severity=escalation.severity,
            red_flag=escalation.red_flag,
            risk=escalation.risk,
            concern=escalation.concern,
            other_concerns=escalation.other_concerns.split(",")
            if escalation.other_concerns
            else [],
            check_answer=escalation.check_answer,
            check_reason=escalation.check_reason,
            plan_answer=escalation.plan_answer,
            contact_wanted=escalation.contact_wanted,
            wrote=bool(escalation.details),
            complete=escalation.complete,
            reported_at=escalation.created_at,
            discharged=person.discharged_at is not None,
            state_line=self.status_line(escalation),
        )

    @staticmethod
    def _title(escalation: Escalation) -> str:
        if escalation.risk == "crisis" and escalation.concern == "safeguarding":
            return "safeguarding"
        if escalation.risk == "crisis" and escalation.concern == "others":
            return "others"
        if escalation.risk == "crisis" and escalation.concern == SOMEONE_ELSE:
            return "someone_else"
        if escalation.risk != "crisis" and escalation.check_answer in TAKEN_AS_YES:
            return "distress" if escalation.check_reason == "distress" else "risk"
        if escalation.risk == "crisis":
            return "risk"
        if escalation.red_flag:
            return "urgent"
        if escalation.risk == "check":
            return "check"
        return "new" if escalation.complete else "unfinished"

    def status_line(self, escalation: Escalation) -> str:
        """'Acknowledged by Sam at 10:42', 'Resolved by ...', or nothing yet."""
        if escalation.status == "resolved" and escalation.resolved_at is not None:
            return self.content.render(
                "escalation/resolved", who=escalation.resolved_by, when=escalation.resolved_at
            )
        if escalation.acknowledged_at is not None:
            return self.content.render(
                "escalation/acknowledged",
                who=escalation.acknowledged_by,
                when=escalation.acknowledged_at,
            )
        return ""

    def buttons(self, escalation: Escalation, channel: str) -> ButtonRows:
        """The staff buttons an alert carries in its present state (none in Teams)."""
        if channel == TEAMS:
            return ()
        label = self.content.label
        rows: list[tuple[Button, ...]] = []
        if escalation.status in OPEN:
            rows.append(
                (
                    Button(label("alert_ack"), payload(ACK, escalation.id)),
                    Button(label("alert_resolve"), payload(RESOLVE, escalation.id)),
                )
            )
        elif escalation.status == "acknowledged":
            rows.append((Button(label("alert_resolve"), payload(RESOLVE, escalation.id)),))
        # Always: the name is there, privately, even when the patient wrote nothing.
        rows.append((Button(label("alert_details"), payload(DETAILS, escalation.id)),))
        return tuple(rows)

    @staticmethod
    def row(
        channel: str,
        chat_id: str,
        escalation: Escalation,
        text: str,
        buttons: ButtonRows,
        now: datetime,
        kind: str = "alert",
        edit_of: str | None = None,
    ) -> OutboxMessage:
        """An urgent outbox row for a staff chat about this escalation."""
        # No person: a staff chat, whose failure must not mark the patient unreachable.
        return outbox_row(
            channel=channel,
            chat_id=chat_id,
            kind=kind,
            priority=Priority.URGENT,
            text=text,
            buttons=Reply(text, buttons),
            now=now,
            escalation_id=escalation.id,
            edit_message_id=edit_of,
        )

    # ---- staff actions -----------------------------------------------------------------

    async def acknowledge(
        self, session: AsyncSession, escalation_id: int, actor: Actor, now: datetime
    ) -> tuple[Result, Escalation | None]:
        """Mark it acknowledged (once, whoever is first), update the alerts, tell the patient."""
        changed = await session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id, Escalation.status.in_(OPEN))
            .values(
                status="acknowledged",
                acknowledged_at=now,
                acknowledged_by=actor.name[:80],
                # Raised again if still open at the end of the next working day.
                next_alert_at=self.hours.end_of_next_working_day(now),
            )
            .execution_options(synchronize_session=False)
        )
        escalation = await session.get(Escalation, escalation_id, populate_existing=True)
        if escalation is None:
            return Result.NOT_FOUND, None
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            return Result.ALREADY, escalation
        audit(session, escalation, "acknowledged", actor, now)
        person = await session.get(Person, escalation.person_id)
        assert person is not None  # an escalation always belongs to someone
        await self.refresh_alerts(session, escalation, person, now)
        session.add(
            outbox_row(
                channel=person.channel,
                chat_id=person.chat_id,
                person_id=person.id,
                kind="seen",
                priority=Priority.URGENT,
                text=self.content.render("report/seen", when=now),
                now=now,
                escalation_id=escalation.id,
            )
        )
        audit(session, escalation, "patient_told", SYSTEM, now)
        return Result.DONE, escalation

    async def resolve(
        self, session: AsyncSession, escalation_id: int, actor: Actor, note: str, now: datetime
    ) -> tuple[Result, Escalation | None]:
        """Close it with an outcome note; acknowledging it too if nobody had."""
        escalation = await session.get(Escalation, escalation_id)
        if escalation is None:
            return Result.NOT_FOUND, None
        if escalation.status in OPEN:
            await self.acknowledge(session, escalation_id, actor, now)
        changed = await session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id, Escalation.status == "acknowledged")
            .values(
                status="resolved",
                resolved_at=now,
                resolved_by=actor.name[:80],
                outcome=shorten(note, OUTCOME_MAX_LENGTH),
                next_alert_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        escalation = await session.get(Escalation, escalation_id, populate_existing=True)
        assert escalation is not None
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            return Result.ALREADY, escalation
        audit(session, escalation, "resolved", actor, now)
        person = await session.get(Person, escalation.person_id)
        assert person is not None
        await self.refresh_alerts(session, escalation, person, now)
        return Result.DONE, escalation

    async def refresh_alerts(
        self, session: AsyncSession, escalation: Escalation, person: Person, now: datetime
    ) -> None:
        """Show the new state wherever the alert is: edit sent alerts, drop unsent ones."""
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.escalation_id == escalation.id,
                OutboxMessage.kind == "alert",
                OutboxMessage.status == Status.PENDING,
            )
            .values(status=Status.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        sent = await session.execute(
            select(OutboxMessage.channel, OutboxMessage.chat_id, OutboxMessage.sent_message_id)
            .where(
                OutboxMessage.escalation_id == escalation.id,
                OutboxMessage.kind == "alert",
                OutboxMessage.status == Status.SENT,
            )
            .distinct()
        )
        text = self.alert_text(escalation, person)
        status = self.status_line(escalation)
        for channel, chat_id, message_id in sent:
            if channel == TEAMS:
                continue
            session.add(
                self.row(
                    channel,
                    chat_id,
                    escalation,
                    text,
                    self.buttons(escalation, channel),
                    now,
                    kind="alert_update",
                    edit_of=message_id,
                )
            )
        if self.targets.teams:
            # A Workflows card cannot be edited: Teams gets the new state as a short note.
            note = self.content.render(
                "escalation/status_note", reference=reference(person), state_line=status
            )
            session.add(self.row(TEAMS, TEAMS_CHAT, escalation, note, (), now, "alert_update"))

    def details_row(
        self, escalation: Escalation, person: Person, channel: str, chat_id: str, now: datetime
    ) -> OutboxMessage:
        """The patient's words for one member of staff, in their private chat."""
        text = self.content.render(
            "escalation/details",
            reference=reference(person),
            first_name=person.display_name,
            # Kept short when stored; cut again here so the message can never be refused.
            words=shorten(escalation.details or ""),
        )
        return self.row(channel, chat_id, escalation, text, (), now, kind="details")

    async def pressed_its_own_alert(
        self, session: AsyncSession, escalation_id: int, channel: str, chat_id: str, message_id: str
    ) -> bool:
        """Whether the pressed message is an alert of this escalation (a forged button is not)."""
        if not message_id:
            return False
        found = await session.scalar(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.escalation_id == escalation_id,
                OutboxMessage.kind == "alert",
                OutboxMessage.channel == channel,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.sent_message_id == message_id,
            )
            .limit(1)
        )
        return found is not None

    async def adopted_copy(
        self,
        session: AsyncSession,
        escalation_id: int,
        channel: str,
        chat_id: str,
        message_id: str,
        now: datetime,
    ) -> bool:
        """Take a pressed message as a copy of this escalation's alert that was sent but never
        recorded (the process died in between), if this chat was sent the alert; recorded
        now, so its buttons work and it is updated with the others."""
        if not message_id:
            return False
        sent_here = await session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.escalation_id == escalation_id,
                OutboxMessage.kind == "alert",
                OutboxMessage.channel == channel,
                OutboxMessage.chat_id == chat_id,
            )
            .limit(1)
        )
        if sent_here is None:
            return False
        # The pressed copy was sent but its record lost (a kill): recorded now, so that
        # acknowledging edits it too.
        copy = outbox_row(
            channel=channel,
            chat_id=chat_id,
            kind="alert",
            priority=Priority.URGENT,
            text=sent_here.text,
            now=now,
            escalation_id=escalation_id,
        )
        copy.buttons = sent_here.buttons
        copy.status, copy.attempts, copy.sent_at = Status.SENT, 1, now
        copy.sent_message_id = message_id
        session.add(copy)
        log.warning(
            "an unrecorded copy of a staff alert was pressed and is now recorded",
            extra={"escalation": escalation_id},
        )
        return True


def payload(action: str, escalation_id: int) -> str:
    """A staff button's payload: 'e:ack:12'."""
    return f"{PREFIX}:{action}:{escalation_id}"


def parse_payload(data: str) -> tuple[str, int] | None:
    """(action, escalation id) from a staff button, or None if it is not one."""
    read = Payload.read(data)
    # At most nine ASCII digits: anything else is forged (and would overflow the id column).
    number = read.number(1, whole=True)
    if read.prefix != PREFIX or read.text(0) not in (ACK, RESOLVE, DETAILS) or number is None:
        return None
    return read.text(0), number


def audit(
    session: AsyncSession,
    escalation: Escalation,
    action: str,
    actor: Actor,
    now: datetime,
    detail: str | None = None,
) -> None:
    """Add a step to the audit trail."""
    session.add(
        EscalationEvent(
            escalation_id=escalation.id,
            at=now,
            action=action,
            actor=actor.key[:80],
            detail=detail[:200] if detail else None,
        )
    )
