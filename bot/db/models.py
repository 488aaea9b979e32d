"""SQLAlchemy models: the database is the source of truth for every person, turn and message."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel

from bot.db.types import UTCDateTime

# Room for any channel's ids: a Teams personal conversation id runs to well over 100 characters.
ID_LENGTH = 255

# Stable constraint names so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Cohort(Base):
    """A programme group: twelve days from a Monday, in person or online."""

    __tablename__ = "cohort"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    start_date: Mapped[date]
    mode: Mapped[str] = mapped_column(String(16))  # "in-person" | "online"
    location: Mapped[str | None] = mapped_column(String(200))
    video_link: Mapped[str | None] = mapped_column(String(500))
    # Which programme days hold the doctor's question-and-answer session and the
    # friends-and-family day (week two); staff choose, these are only defaults.
    qa_day: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    family_day: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    created_at: Mapped[datetime]
    # "HH:MM" (Europe/London) of the doctor's session on `qa_day`, when staff set one other
    # than the timetable's; questions close a configurable time before it.
    qa_time: Mapped[str | None] = mapped_column(String(5))


class CohortEvent(Base):
    """A dated event of a group: programme day 1 to 12, or the review 1, 6 or 12 months on."""

    __tablename__ = "cohort_event"
    __table_args__ = (UniqueConstraint("cohort_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "day" | "review"
    number: Mapped[int] = mapped_column(Integer)  # day number, or months after the last day
    on_date: Mapped[date]
    # "HH:MM" in Europe/London when staff set a start other than the timetable's.
    start_time: Mapped[str | None] = mapped_column(String(5))


class Invite(Base):
    """A single-use joining code for one patient or staff member of a cohort."""

    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id"))
    role: Mapped[str] = mapped_column(String(16))  # "patient" | "staff"
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # A decline is all we keep of someone who said no: the time, not who they were.
    declined_at: Mapped[datetime | None]


class Person(Base):
    """Someone enrolled: a patient of a cohort, or a member of staff."""

    __tablename__ = "person"
    __table_args__ = (
        UniqueConstraint("channel", "channel_user_id"),
        # The console's Today page asks for the few who can't be reached, among thousands.
        Index(
            "ix_person_unreachable",
            "unreachable_at",
            sqlite_where=text("unreachable_at IS NOT NULL"),
            postgresql_where=text("unreachable_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(16))
    channel_user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    chat_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    consented_at: Mapped[datetime | None]
    privacy_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    unreachable_at: Mapped[datetime | None]
    # Reminder preferences, "HH:MM" in Europe/London; quiet hours may wrap midnight and are
    # off when both are empty.
    evening_time: Mapped[str] = mapped_column(String(5), default="18:00", server_default="18:00")
    morning_time: Mapped[str] = mapped_column(String(5), default="07:45", server_default="07:45")
    quiet_start: Mapped[str | None] = mapped_column(
        String(5), default="21:00", server_default="21:00"
    )
    quiet_end: Mapped[str | None] = mapped_column(
        String(5), default="07:30", server_default="07:30"
    )
    # Reminders are paused from `paused_at` until `paused_until` (no end: until resumed).
    paused_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]
    discharged_at: Mapped[datetime | None]
    # Staff have been told this person can't be reached (cleared when they write again).
    unreachable_reported: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class Conversation(Base):
    """Where someone is in a dialog; `version` ties buttons to the message that showed them."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    dialog: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    # A safety question waiting for its answer: which escalation, which question ("check": any
    # thoughts of ending your life; "plan": thought how, or got ready), and when it was asked.
    # The next typed text is its answer; a form under way waits until then.
    safety_escalation_id: Mapped[int | None] = mapped_column(Integer)
    safety_question: Mapped[str | None] = mapped_column(String(16))
    safety_asked_at: Mapped[datetime | None]


class InboxUpdate(Base):
    """One row per incoming update, so a redelivered update has no second effect."""

    __tablename__ = "inbox_update"
    __table_args__ = (UniqueConstraint("channel", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    received_at: Mapped[datetime]


class CrisisReply(Base):
    """Crisis numbers sent for an update before its turn ran: a copy of that update fetched
    again after a restart is not answered a second time."""

    __tablename__ = "crisis_reply"
    __table_args__ = (UniqueConstraint("channel", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    sent_at: Mapped[datetime]


class Worker(Base):
    """A running process that claims outbox rows, and when it was last seen alive."""

    __tablename__ = "worker"

    instance: Mapped[str] = mapped_column(String(16), primary_key=True)
    seen_at: Mapped[datetime]


class CodeAttempt(Base):
    """A joining code or guest link that did not work: a few in a row pause that account."""

    __tablename__ = "code_attempt"
    __table_args__ = (Index("ix_code_attempt_account", "channel", "channel_user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(8))  # "invite" or "guest"
    at: Mapped[datetime]


class OutboxMessage(Base):
    """A message that must reach someone: written in the turn, delivered after the commit."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "priority", "not_before"),
        # "Is anything older still unsent for this chat?" is asked for every claim and turn.
        Index(
            "ix_outbox_message_unsent_chat",
            "channel",
            "chat_id",
            "id",
            sqlite_where=text("status IN ('pending', 'sending')"),
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        # "Was a delivery summary sent lately?" is asked at the end of every dispatcher drain.
        Index("ix_outbox_message_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(32))
    # Lower goes first: 0 urgent (crisis, staff alerts), 1 replies, 2 bulk reminders.
    priority: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Not sent after this moment (a reminder that is no longer useful): marked "expired".
    expires_at: Mapped[datetime | None]
    # A delivery that failed for good is reported to staff once; this says it has been.
    failure_reported: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The planned reminder this message delivers, if it is one.
    scheduled_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_message.id"), index=True)
    # The escalation a staff alert (or its update) is about, if it is one.
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id"), index=True)
    # The channel's id for the message once sent, so a staff alert can be edited later.
    sent_message_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # Set on a row that edits an earlier message (an alert marked acknowledged) instead.
    edit_message_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # Set when the message is a file (the doctor's question list): `text` is its content.
    document_name: Mapped[str | None] = mapped_column(String(100))
    # Lets SQLite insert a turn's rows in one statement and still match the returned ids to
    # them (it cannot order RETURNING by an autoincrement key); SQLAlchemy fills it in.
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class Attendance(Base):
    """A patient's answer to a reminder: coming, running late, or can't make it."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("person_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("cohort_event.id"))
    answer: Mapped[str] = mapped_column(String(16))  # "attending" | "late" | "absent"
    answered_at: Mapped[datetime]
    # The answer staff were last told about, so pressing a button again tells them nothing new.
    staff_told: Mapped[str | None] = mapped_column(String(16))
    # When staff were asked to arrange another review for this one (asked once).
    date_requested_at: Mapped[datetime | None]


class ReviewBooking(Base):
    """A patient who moved to another group's review (1, 6 or 12 months)."""

    __tablename__ = "review_booking"
    __table_args__ = (UniqueConstraint("person_id", "months"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    months: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int] = mapped_column(ForeignKey("cohort_event.id"))
    booked_at: Mapped[datetime]


class ScheduledMessage(Base):
    """A planned reminder; the key (person, event, slot, date) makes planning idempotent."""

    __tablename__ = "scheduled_message"
    __table_args__ = (
        UniqueConstraint("person_id", "event_id", "slot", "event_date"),
        Index("ix_scheduled_message_due", "status", "due_at"),
        Index("ix_scheduled_message_event", "event_id", "event_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    # The programme day or review it is about; None for a nudge the patient chose the time of
    # (a thought challenge), which names its challenge instead.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("cohort_event.id"))
    challenge_id: Mapped[int | None] = mapped_column(ForeignKey("thought_challenge.id"), index=True)
    # "evening" | "morning" (programme days), "week_before" | "day_before" (reviews),
    # "discharge" (after the 12-month review); the programme's own flows add theirs
    # (see bot/services/planner.py and dialogs/flows.py).
    slot: Mapped[str] = mapped_column(String(16))
    event_date: Mapped[date]
    due_at: Mapped[datetime]
    # After this it is no use any more (a morning reminder once the day has begun): skipped.
    send_until: Mapped[datetime]
    # "planned" | "queued" (its outbox row says the rest) | "skipped" | "blocked"
    status: Mapped[str] = mapped_column(String(16), default="planned")
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Escalation(Base):
    """Extra pain, distress or risk that staff must see: reported → alerted → acknowledged →
    resolved."""

    __tablename__ = "escalation"
    __table_args__ = (Index("ix_escalation_watch", "status", "next_alert_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # "report" (the patient's report) | "risk" (risk language in anything they wrote)
    source: Mapped[str] = mapped_column(String(16))
    # "pain" | "distress" | "both" | "new_worry" | "risk"
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int | None] = mapped_column(Integer)
    red_flag: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    contact_wanted: Mapped[bool | None] = mapped_column(Boolean)
    # The patient's own words: shown only privately to a member of staff who asks.
    details: Mapped[str | None] = mapped_column(Text)
    # "none" | "check" | "crisis", with the lexicon entry and version that said so.
    risk: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    risk_entry: Mapped[str | None] = mapped_column(String(80))
    lexicon_version: Mapped[str | None] = mapped_column(String(32))
    # Whose safety: "self" | "others" | "safeguarding" | "someone-else" (None: a plain report).
    concern: Mapped[str | None] = mapped_column(String(16))
    # The other concerns the patient's words raised, comma-separated ("safeguarding,others").
    other_concerns: Mapped[str | None] = mapped_column(String(60))
    # The answer to the safety question: "yes" | "no" | "unsure" (not a clear no, so treated
    # as yes) | None (not asked or not answered); the audit trail says how it was given.
    check_answer: Mapped[str | None] = mapped_column(String(8))
    # Why the safety question was asked: "words" (risk language) | "distress" (a severe report).
    check_reason: Mapped[str | None] = mapped_column(String(16))
    # The follow-up (thought about how, or started to get ready): "yes" | "no" | "unsure" | None.
    plan_answer: Mapped[str | None] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # False while the patient is still answering; staff are alerted anyway once it is due.
    complete: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # "reported" | "alerted" | "acknowledged" | "resolved"
    status: Mapped[str] = mapped_column(String(16), default="reported")
    created_at: Mapped[datetime]
    # The watchdog's next look: alert a report left unfinished, re-send an unacknowledged
    # alert, or raise one acknowledged but still unresolved.
    next_alert_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]
    alert_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str | None] = mapped_column(Text)


class EscalationEvent(Base):
    """The audit trail: every step of an escalation, who took it and when."""

    __tablename__ = "escalation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    at: Mapped[datetime]
    # reported, alerted, realerted, acknowledged, resolved, details_shown, refused, ...
    action: Mapped[str] = mapped_column(String(32))
    # "telegram:123" | "console:demo-staff" | "cli:<id>" | "system"
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(200))


class DoctorQuestion(Base):
    """A patient's question for the doctor's question-and-answer session of their group."""

    __tablename__ = "doctor_question"
    __table_args__ = (Index("ix_doctor_question_cohort", "cohort_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id"))
    text: Mapped[str] = mapped_column(Text)
    # Whether the group may hear the patient's first name with it (else asked anonymously).
    share_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # "open" | "withdrawn" | "answered"
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Sent after questions closed: passed to the team, not on the doctor's list.
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class ThoughtChallenge(Base):
    """A practical the patient plans to test an unhelpful thought, and what they found."""

    __tablename__ = "thought_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # "planned" | "reflected"
    status: Mapped[str] = mapped_column(String(16), default="planned")
    thought: Mapped[str] = mapped_column(Text)
    belief_before: Mapped[int] = mapped_column(Integer)
    practical: Mapped[str] = mapped_column(Text)  # what, when and where, in their words
    expected: Mapped[str] = mapped_column(Text)
    obstacles: Mapped[str | None] = mapped_column(Text)  # what might get in the way, and then
    nudge_at: Mapped[datetime | None]
    reflect_at: Mapped[datetime | None]
    happened: Mapped[str | None] = mapped_column(Text)
    came_true: Mapped[str | None] = mapped_column(String(16))  # "yes" | "partly" | "no"
    learned: Mapped[str | None] = mapped_column(Text)
    balanced: Mapped[str | None] = mapped_column(Text)
    belief_after: Mapped[int | None] = mapped_column(Integer)
    # Staff see a challenge only once the patient chooses to share it.
    shared_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    reflected_at: Mapped[datetime | None]


class PracticePlan(Base):
    """Tonight's and tomorrow morning's home practice, set after a programme day, and how it
    went."""

    __tablename__ = "practice_plan"
    __table_args__ = (UniqueConstraint("person_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # The programme day after which it was set.
    event_id: Mapped[int] = mapped_column(ForeignKey("cohort_event.id"))
    # [{"area": "pacing", "target": "...", "when": "tonight" | "morning",
    #   "outcome": "done" | "partly" | "not" | None}]
    items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    obstacles: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]


class FamilyGuest(Base):
    """Someone a patient invited to the friends-and-family day; removed 30 days after it."""

    __tablename__ = "family_guest"
    __table_args__ = (
        UniqueConstraint("channel", "channel_user_id"),
        Index("ix_family_guest_cohort", "cohort_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id"))
    token: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    # Filled when the guest opens the link: the link then works for nobody else.
    channel: Mapped[str | None] = mapped_column(String(16))
    channel_user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    chat_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    first_name: Mapped[str | None] = mapped_column(String(80))
    opened_at: Mapped[datetime | None]
    # "yes" | "no" | None (not answered yet)
    reply: Mapped[str | None] = mapped_column(String(8))
    replied_at: Mapped[datetime | None]
    access_needs: Mapped[str | None] = mapped_column(Text)
    question: Mapped[str | None] = mapped_column(Text)
    day_before_sent_at: Mapped[datetime | None]
    morning_sent_at: Mapped[datetime | None]


class StaffAccount(Base):
    """One member of staff: signs in to the console; may be linked to their Telegram account."""

    __tablename__ = "staff_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept in lower case: one address, one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))  # "clinician" | "admin"
    # An argon2 hash; None for an account that signs in only with Microsoft Entra ID.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # The Entra ID object id, once this person has signed in that way.
    entra_object_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    telegram_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    # When they last chose their own password; None while they have only the first one an
    # admin gave them, which they must change at their next sign-in.
    password_changed_at: Mapped[datetime | None]


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random key whose hash is kept here, so signing
    out, a disabled account or a timeout ends it on the server, whatever the browser keeps."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"), index=True)
    # Every form of this session carries it (a token another session had is refused).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class SignInAttempt(Base):
    """A sign-in try, by the hash of the address typed (existing account or not) and the
    browser's network address: enough failures lock both for a while."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (
        Index("ix_sign_in_attempt_email", "email_hash", "at"),
        Index("ix_sign_in_attempt_address", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """The console's audit log: sign-ins, views of a patient's details, changes staff made."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    # The account that acted, or None for a sign-in that did not succeed.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("staff_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    # What it was done to ("escalation:12", "person:7", "cohort:3"); never a name or words.
    target: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(200))


class FormUse(Base):
    """A console form that was sent: a second send of the same form (a double click) does not
    act twice, and is shown what the first one made."""

    __tablename__ = "form_use"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_key: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"))
    at: Mapped[datetime]
    # Where the first send went, so the second lands there too.
    result_path: Mapped[str | None] = mapped_column(String(200))


class TeamsConversation(Base):
    """Where to reach one Teams conversation: learnt from the activities Teams sends us."""

    __tablename__ = "teams_conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    # The Bot Connector's address for this conversation (checked against the allow-list
    # before it is stored, and again before every call).
    service_url: Mapped[str] = mapped_column(String(512))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # "personal" | "channel" | "groupChat"
    # For a personal chat: whose it is (their Teams id), so a private message to a member of
    # staff can find it.
    user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    updated_at: Mapped[datetime]
