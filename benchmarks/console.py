"""Staff console: server time per page with 20 staff browsing at once over a full database.

Everything runs in this process and event loop: the real console app (bot.app.web.app) over a
fresh database, driven in-process through httpx.ASGITransport by one signed-in httpx client per
member of staff (each with its own cookies), all browsing at once.

1. Setup (not measured): a fresh database at the newest schema, filled with bulk inserts
   (SQLAlchemy core, many rows a statement): --groups groups with their programme days and
   reviews, --patients patients spread evenly over them, each with a used invite (and a few
   unused ones a group), a day's reminders (evening before and morning of the group's nearest
   event, the ones already due queued with their outbox rows, a few failed or blocked), an
   attendance answer, a practice plan, some thought challenges (most shared with staff),
   questions for the doctor and invited family guests; --escalations escalations in a
   realistic mix of statuses, categories, urgency and risk, each with its audit trail and, once
   alerted, its sent staff alert; --staff console accounts (the first an admin) with one
   argon2 hash made once; a few hundred console audit events. All names and words are
   invented. PostgreSQL is ANALYZEd after the load, as autovacuum would soon do; SQLite is not
   (the app never runs ANALYZE there).
2. Sign-in: every member of staff opens /login and posts the form, as a browser does.
3. Alone (for reference): one admin requests every page --solo times in turn, with nothing else
   running. A page that answers 404 here is reported as "not built" and skipped afterwards.
4. Together (the figures the target is for): the --staff members browse at once, each in a
   closed loop (its next request when the last one has answered, after an optional think time),
   for --rounds rounds. A round is every built page once, in a shuffled order: Today, the open
   and all escalations, two escalations' pages, the groups, one group, its invites, its day 3,
   all groups' questions for the doctor and one group's, the friends-and-family days and one
   group's guests, a group's reminders for the date of its nearest event, and for the admin
   the staff accounts and the audit log; plus two forms a clinician sends: acknowledge an open
   escalation (its page opened first, the CSRF token read off its hidden field) and show a
   patient's words.

"Server time" is measured inside the app: the benchmark wraps the ASGI app in a timing
middleware, from the moment the request enters it to the moment its last body chunk leaves it.
With many browsers on one event loop this includes the wait for the loop while other requests
run (as in the one-process server), but not the httpx client's own work after the response.
Reported per page: requests, p50, p95 and max in ms, and whether p95 is under the target
(100 ms); the "alone" p50 beside it shows the page's own cost. Also the run's wall time and
requests per second. The clock is a ManualClock standing at the seeded data's "now".

Run from the repository root::

    .venv/bin/python benchmarks/console.py [--patients 10000] [--escalations 1000]
        [--groups 50] [--staff 20] [--rounds 10] [--think-ms 0] [--solo 5]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/benchc] [--json]

A PostgreSQL database given with --database-url is WIPED (schema dropped and recreated); the
databases "test" and "postgres" are refused. The exit status is 1 if any request answered
other than expected (a 5xx, a refused form, a lost session); a missed target is a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a plain script from the repository root: make `bot`, `tests`, ... importable.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import sqlalchemy  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from benchmarks.databases import describe_database, prepare_database  # noqa: E402
from benchmarks.fanout import RunningClock, code_version  # noqa: E402
from bot.app.runtime import Runtime, open_runtime  # noqa: E402
from bot.app.web.app import create_app  # noqa: E402
from bot.app.web.console import Console  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db.models import (  # noqa: E402
    Attendance,
    AuditEvent,
    Base,
    Cohort,
    CohortEvent,
    DoctorQuestion,
    Escalation,
    EscalationEvent,
    FamilyGuest,
    Invite,
    OutboxMessage,
    Person,
    PracticePlan,
    ScheduledMessage,
    StaffAccount,
    ThoughtChallenge,
)
from bot.services.escalations import Escalator  # noqa: E402
from bot.services.events import default_events  # noqa: E402
from bot.services.people import PRIVACY_VERSION  # noqa: E402
from bot.services.staff_accounts import hash_password  # noqa: E402

# The seeded data's "now": a Wednesday morning in term time (GMT, so London time is UTC).
NOW = datetime(2027, 3, 10, 10, 30, tzinfo=UTC)
TODAY = NOW.date()
BASE_URL = "http://console.test"
PASSWORD = "bench console password"
STAFF_CHAT_ID = "-100777"
FIRST_USER_ID = 800_001
POSTGRES_FORBIDDEN = ("test", "postgres")
TARGET_P95_MS = 100.0
LABEL_HEADER = "x-bench-page"
CHUNK = 5_000  # rows per bulk insert statement
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')

# Invented names and words only.
NAMES = ("Robin", "Sam", "Alex", "Jordan", "Morgan", "Casey", "Riley", "Quinn", "Avery", "Jesse")
STAFF_NAMES = ("Jo", "Kim", "Lee", "Pat", "Ash", "Ray", "Max", "Sky", "Val", "Bo")
WORDS = (
    "My back has been much worse since Sunday and the pacing plan is not helping.",
    "I feel really low today and could not get out of bed.",
    "The pain in my hip is new and it keeps me awake at night.",
    "I am worried about the new tablets the GP gave me.",
    "Everything feels too much at the moment.",
)
QUESTIONS = (
    "Is it safe to keep walking when the pain goes up?",
    "How long does it take for the pacing to make a difference?",
    "Should I stop my painkillers before the review?",
    "Why does the pain move around my body?",
    "Can stress really make the pain worse?",
)
THOUGHTS = (
    "If I go for a walk the pain will be unbearable tomorrow.",
    "Nobody at work understands my pain.",
    "I will never be able to garden again.",
)

# What staff do in one round: (label, admin only). A page whose probe answers 404 is skipped.
CORE_PAGES = ("today", "escalations", "escalations all", "escalation", "acknowledge", "words")
COLLEAGUE_PAGES = (
    "groups",
    "group",
    "invites",
    "day",
    "questions",
    "group questions",
    "family",
    "group family",
    "reminders",
)
ADMIN_PAGES = ("staff", "audit")
# How each is requested (ids and dates chosen at random from the seeded ones).
PAGE_PATHS = {
    "today": "GET /",
    "escalations": "GET /escalations",
    "escalations all": "GET /escalations?show=all",
    "escalation": "GET /escalations/{id}",
    "acknowledge": "POST /escalations/{id}/acknowledge",
    "words": "POST /escalations/{id}/words",
    "groups": "GET /groups",
    "group": "GET /groups/{id}",
    "invites": "GET /invites?group={id}",
    "day": "GET /days?group={id}&day=3",
    "questions": "GET /questions",
    "group questions": "GET /questions/{id}",
    "family": "GET /family",
    "group family": "GET /family/{id}",
    "reminders": "GET /reminders?group={id}&date=...",
    "staff": "GET /staff (admin)",
    "audit": "GET /audit (admin)",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000, help="patients (10000)")
    parser.add_argument("--escalations", type=int, default=1_000, help="escalations (1000)")
    parser.add_argument("--groups", type=int, default=50, help="groups (50)")
    parser.add_argument("--staff", type=int, default=20, help="staff browsing at once (20)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of every page (10)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between one member of staff's requests, uniformly 0-2x (0: none)",
    )
    parser.add_argument(
        "--solo", type=int, default=5, help="requests of each page alone, for reference (5)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file in a temp folder; a PostgreSQL database is WIPED",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.groups < 1 or args.patients < args.groups or args.staff < 1 or args.rounds < 1:
        parser.error("--groups, --staff and --rounds must be at least 1, --patients >= --groups")
    if args.escalations < 1 or args.solo < 1:
        parser.error("--escalations and --solo must be at least 1")
    if args.database_url:
        parsed = make_url(args.database_url)
        if parsed.get_backend_name() == "postgresql" and parsed.database in POSTGRES_FORBIDDEN:
            parser.error(f"refusing to wipe the PostgreSQL database {parsed.database!r}")
    return args


def progress(message: str) -> None:
    """A progress line on stderr, so --json output stays clean."""
    print(f"[console] {message}", file=sys.stderr, flush=True)


# ---- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the browsing needs to know about the data: ids to visit, dates to ask for."""

    cohort_ids: list[int] = field(default_factory=list)
    # group id -> the date of its event nearest to today (its reminders are for that date)
    reminder_dates: dict[int, date] = field(default_factory=dict)
    escalation_ids: list[int] = field(default_factory=list)
    open_escalation_ids: list[int] = field(default_factory=list)
    staff_emails: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


class Ids:
    """Explicit primary keys for the bulk inserts (the database is fresh)."""

    def __init__(self) -> None:
        self._next: defaultdict[str, int] = defaultdict(lambda: 1)

    def take(self, table: str) -> int:
        """The next id of a table."""
        value = self._next[table]
        self._next[table] = value + 1
        return value


def pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    """One of the choices by weight."""
    return rng.choices([c for c, _ in weighted], [w for _, w in weighted])[0]


def at_local(day: date, clock: str) -> datetime:
    """A London time on a day (GMT for the seeded dates around NOW, so the same as UTC)."""
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def bulk(connection: AsyncConnection, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows in a few multi-row statements (every dict has the same keys)."""
    for start in range(0, len(rows), CHUNK):
        await connection.execute(insert(model), rows[start : start + CHUNK])


def escalation_rows(
    rng: random.Random,
    ids: Ids,
    index: int,
    person_id: int,
    user_id: int,
    staff_names: Sequence[str],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One escalation, its audit trail and its sent staff alert."""
    status = pick(
        rng,
        (("reported", 0.05), ("alerted", 0.12), ("acknowledged", 0.18), ("resolved", 0.65)),
    )
    if status in ("reported", "alerted"):
        created = NOW - timedelta(minutes=rng.randint(5, 3 * 24 * 60))
    elif status == "acknowledged":
        created = NOW - timedelta(minutes=rng.randint(60, 14 * 24 * 60))
    else:
        created = NOW - timedelta(minutes=rng.randint(24 * 60, 300 * 24 * 60))
    risky = rng.random() < 0.10
    category = (
        "risk"
        if risky
        else pick(rng, (("pain", 0.4), ("distress", 0.3), ("both", 0.15), ("new_worry", 0.15)))
    )
    risk = pick(rng, (("crisis", 0.4), ("check", 0.6))) if risky else "none"
    check_answer = pick(rng, (("yes", 0.2), ("no", 0.6), ("unsure", 0.2))) if risky else None
    urgent = (risky and risk == "crisis") or rng.random() < 0.05
    alerted_at = created + timedelta(minutes=1) if status != "reported" else None
    acknowledged_at = (
        created + timedelta(minutes=rng.randint(3, 90))
        if status in ("acknowledged", "resolved")
        else None
    )
    resolved_at = (
        acknowledged_at + timedelta(hours=rng.randint(1, 72))
        if status == "resolved" and acknowledged_at
        else None
    )
    who = rng.choice(staff_names)
    escalation_id = index + 1
    escalation = {
        "id": escalation_id,
        "person_id": person_id,
        "source": "risk" if risky else "report",
        "category": category,
        "severity": None if risky else rng.randint(3, 10),
        "red_flag": not risky and rng.random() < 0.05,
        "contact_wanted": None if risky else rng.random() < 0.6,
        "details": rng.choice(WORDS),
        "risk": risk,
        "risk_entry": "bench-entry" if risky else None,
        "lexicon_version": "bench" if risky else None,
        "concern": "self" if risky else None,
        "other_concerns": None,
        "check_answer": check_answer,
        "check_reason": "words" if risky else None,
        "plan_answer": None,
        "urgent": urgent,
        "complete": True,
        "status": status,
        "created_at": created,
        "next_alert_at": (
            created + timedelta(minutes=15) if status in ("reported", "alerted") else None
        ),
        "alerted_at": alerted_at,
        "alert_count": 0 if alerted_at is None else 1,
        "acknowledged_at": acknowledged_at,
        "acknowledged_by": who if acknowledged_at else None,
        "resolved_at": resolved_at,
        "resolved_by": who if resolved_at else None,
        "outcome": "Phoned the patient; plan agreed for the next session." if resolved_at else None,
    }
    steps: list[tuple[datetime, str, str, str | None]] = [
        (created, "reported", f"telegram:{user_id}", None)
    ]
    if alerted_at:
        steps.append((alerted_at, "alerted", "system", "telegram"))
    if acknowledged_at:
        steps.append((acknowledged_at, "acknowledged", "telegram:9001", None))
        steps.append((acknowledged_at, "patient_told", "system", None))
        if rng.random() < 0.3:
            steps.append((acknowledged_at, "details_shown", "telegram:9001", "in Telegram"))
    if resolved_at:
        steps.append((resolved_at, "resolved", "telegram:9001", None))
    events = [
        {
            "id": ids.take("escalation_event"),
            "escalation_id": escalation_id,
            "at": moment,
            "action": action,
            "actor": actor,
            "detail": detail,
        }
        for moment, action, actor, detail in steps
    ]
    alerts = []
    if alerted_at:
        alerts.append(
            outbox_dict(
                ids,
                chat_id=STAFF_CHAT_ID,
                person_id=None,
                kind="alert",
                priority=0,
                text=f"Reference: P{person_id}\nA report needs a look.",
                status="sent",
                at=alerted_at,
                escalation_id=escalation_id,
                sent_message_id=str(50_000 + escalation_id),
            )
        )
    return escalation, events, alerts


def outbox_dict(
    ids: Ids,
    *,
    chat_id: str,
    person_id: int | None,
    kind: str,
    priority: int,
    text: str,
    status: str,
    at: datetime,
    escalation_id: int | None = None,
    scheduled_id: int | None = None,
    sent_message_id: str | None = None,
) -> dict[str, Any]:
    """One outbox row, every column given (the bulk insert needs the same keys in each)."""
    sent = status == "sent"
    return {
        "id": ids.take("outbox_message"),
        "channel": "telegram",
        "chat_id": chat_id,
        "person_id": person_id,
        "kind": kind,
        "priority": priority,
        "text": text,
        "buttons": None,
        "status": status,
        "attempts": 1 if status != "pending" else 0,
        "not_before": at,
        "claimed_at": at if status != "pending" else None,
        "claim_token": None,
        "sent_at": at + timedelta(seconds=1) if sent else None,
        "last_error": "Forbidden: bot was blocked by the user" if status == "blocked" else None,
        "created_at": at,
        "expires_at": None,
        "failure_reported": status in ("failed", "blocked"),
        "scheduled_id": scheduled_id,
        "escalation_id": escalation_id,
        "sent_message_id": sent_message_id if sent else None,
        "edit_message_id": None,
        "document_name": None,
    }


def nearest_event(events: Sequence[CohortEvent]) -> CohortEvent:
    """The group's event nearest to today (today's, or the next one on a tie)."""
    return min(events, key=lambda e: (abs((e.on_date - TODAY).days), e.on_date < TODAY))


async def seed(engine: AsyncEngine, args: argparse.Namespace) -> Seeded:
    """Fill the fresh database; returns what the browsing needs."""
    rng = random.Random(args.seed)
    ids = Ids()
    found = Seeded()
    rows: defaultdict[type[Base], list[dict[str, Any]]] = defaultdict(list)
    monday = TODAY - timedelta(days=TODAY.weekday())
    staff_names = [
        f"{STAFF_NAMES[i % len(STAFF_NAMES)]} Staff{i + 1:02d}" for i in range(args.staff)
    ]

    # Groups: one starting each week, from a few weeks ahead to most of a year back, so some
    # meet today, some are between their days, and older ones have their reviews.
    events_of: dict[int, list[CohortEvent]] = {}
    for index in range(args.groups):
        cohort_id = ids.take("cohort")
        start = monday + timedelta(weeks=4 - index)
        in_person = index % 3 != 2
        cohort = Cohort(id=cohort_id, start_date=start)
        events = default_events(cohort)
        for event in events:
            event.id = ids.take("cohort_event")
        events_of[cohort_id] = events
        found.cohort_ids.append(cohort_id)
        found.reminder_dates[cohort_id] = nearest_event(events).on_date
        rows[Cohort].append(
            {
                "id": cohort_id,
                "name": f"Group {cohort_id:02d} {'in person' if in_person else 'online'} "
                f"from {start:%d %b %Y}",
                "start_date": start,
                "mode": "in-person" if in_person else "online",
                "location": "Pain Clinic, Outpatients B" if in_person else None,
                "video_link": None if in_person else f"https://video.example/pmp-{cohort_id}",
                "qa_day": 10,
                "family_day": 7,
                "created_at": datetime(start.year, start.month, start.day, tzinfo=UTC)
                - timedelta(days=21),
                "qa_time": None,
            }
        )
        rows[CohortEvent] += [
            {
                "id": e.id,
                "cohort_id": cohort_id,
                "kind": e.kind,
                "number": e.number,
                "on_date": e.on_date,
                "start_time": None,
            }
            for e in events
        ]
        for _ in range(5):  # a few invites not used yet
            invite_id = ids.take("invite")
            rows[Invite].append(
                {
                    "id": invite_id,
                    "code": f"bench{invite_id:08d}",
                    "cohort_id": cohort_id,
                    "role": "patient",
                    "created_at": NOW - timedelta(days=2),
                    "expires_at": NOW + timedelta(days=12),
                    "used_at": None,
                    "used_by_person_id": None,
                    "declined_at": None,
                }
            )

    # Patients, spread evenly over the groups, with what each one leaves behind.
    patients: list[tuple[int, int, int]] = []  # (person id, user id, group id)
    for index in range(args.patients):
        cohort_id = found.cohort_ids[index % args.groups]
        person_id = ids.take("person")
        user_id = FIRST_USER_ID + index
        patients.append((person_id, user_id, cohort_id))
        events = events_of[cohort_id]
        start = events[0].on_date
        joined = datetime(start.year, start.month, start.day, 9, tzinfo=UTC) - timedelta(days=10)
        if joined > NOW:
            joined = NOW - timedelta(days=1)
        unreachable = rng.random() < 0.01
        rows[Person].append(
            {
                "id": person_id,
                "role": "patient",
                "cohort_id": cohort_id,
                "display_name": NAMES[index % len(NAMES)],
                "channel": "telegram",
                "channel_user_id": str(user_id),
                "chat_id": str(user_id),
                "consented_at": joined,
                "privacy_version": PRIVACY_VERSION,
                "created_at": joined,
                "unreachable_at": NOW - timedelta(days=rng.randint(1, 20)) if unreachable else None,
                "paused_at": None,
                "paused_until": None,
                "discharged_at": None,
                "unreachable_reported": unreachable,
            }
        )
        invite_id = ids.take("invite")
        rows[Invite].append(
            {
                "id": invite_id,
                "code": f"bench{invite_id:08d}",
                "cohort_id": cohort_id,
                "role": "patient",
                "created_at": joined - timedelta(days=3),
                "expires_at": joined + timedelta(days=11),
                "used_at": joined,
                "used_by_person_id": person_id,
                "declined_at": None,
            }
        )
        # A day's reminders: the evening before and the morning of the group's nearest event.
        event = nearest_event(events)
        for slot, due in (
            ("evening", at_local(event.on_date - timedelta(days=1), "18:00")),
            ("morning", at_local(event.on_date, "07:45")),
        ):
            scheduled_id = ids.take("scheduled_message")
            queued = due <= NOW
            rows[ScheduledMessage].append(
                {
                    "id": scheduled_id,
                    "person_id": person_id,
                    "event_id": event.id,
                    "challenge_id": None,
                    "slot": slot,
                    "event_date": event.on_date,
                    "due_at": due,
                    "send_until": due + timedelta(hours=2),
                    "status": "queued" if queued else "planned",
                    "reason": None,
                    "created_at": NOW - timedelta(days=14),
                    "updated_at": due if queued else NOW - timedelta(days=14),
                }
            )
            if queued:
                outcome = pick(rng, (("sent", 0.97), ("failed", 0.02), ("blocked", 0.01)))
                rows[OutboxMessage].append(
                    outbox_dict(
                        ids,
                        chat_id=str(user_id),
                        person_id=person_id,
                        kind="reminder",
                        priority=2,
                        text=f"Reminder: the programme {slot}.",
                        status=outcome,
                        at=due,
                        scheduled_id=scheduled_id,
                        sent_message_id=str(user_id),
                    )
                )
        if event.on_date <= TODAY + timedelta(days=1) and rng.random() < 0.6:
            rows[Attendance].append(
                {
                    "id": ids.take("attendance"),
                    "person_id": person_id,
                    "event_id": event.id,
                    "answer": pick(rng, (("attending", 0.8), ("late", 0.1), ("absent", 0.1))),
                    "answered_at": at_local(event.on_date, "07:50") - timedelta(days=1),
                    "staff_told": None,
                    "date_requested_at": None,
                }
            )
        day_one = events[0]
        if day_one.on_date < TODAY:
            rows[PracticePlan].append(
                {
                    "id": ids.take("practice_plan"),
                    "person_id": person_id,
                    "event_id": day_one.id,
                    "items": {
                        "items": [
                            {"when": "tonight", "area": "pacing", "target": "Walk 10 minutes"},
                            {"when": "morning", "area": "relaxation", "target": "Breathing"},
                        ]
                    },
                    "obstacles": None,
                    "created_at": at_local(day_one.on_date, "16:00"),
                    "updated_at": at_local(day_one.on_date, "16:00"),
                    "reviewed_at": None,
                }
            )
            if rng.random() < 0.3:
                created = at_local(day_one.on_date, "17:00")
                rows[ThoughtChallenge].append(
                    {
                        "id": ids.take("thought_challenge"),
                        "person_id": person_id,
                        "status": "reflected",
                        "thought": rng.choice(THOUGHTS),
                        "belief_before": rng.randint(50, 100),
                        "practical": "Walk to the shop on Saturday morning.",
                        "expected": "I will have to lie down all afternoon.",
                        "obstacles": None,
                        "nudge_at": None,
                        "reflect_at": None,
                        "happened": "It was sore but I managed.",
                        "came_true": pick(rng, (("yes", 0.2), ("partly", 0.5), ("no", 0.3))),
                        "learned": "I can do more than I thought if I pace it.",
                        "balanced": "Some walks hurt, but not all of them.",
                        "belief_after": rng.randint(10, 60),
                        "shared_at": created + timedelta(days=2) if rng.random() < 0.7 else None,
                        "created_at": created,
                        "reflected_at": created + timedelta(days=2),
                    }
                )
        if rng.random() < 0.25:
            question_id = ids.take("doctor_question")
            created = joined + timedelta(days=rng.randint(1, 10))
            status = pick(rng, (("open", 0.6), ("answered", 0.3), ("withdrawn", 0.1)))
            rows[DoctorQuestion].append(
                {
                    "id": question_id,
                    "person_id": person_id,
                    "cohort_id": cohort_id,
                    "text": rng.choice(QUESTIONS),
                    "share_name": rng.random() < 0.5,
                    "status": status,
                    "late": rng.random() < 0.05,
                    "created_at": created,
                    "updated_at": created,
                    "answered_at": created + timedelta(days=3) if status == "answered" else None,
                }
            )
        if rng.random() < 0.05:
            guest_id = ids.take("family_guest")
            opened = rng.random() < 0.7
            replied = opened and rng.random() < 0.8
            guest_user = 600_000 + guest_id
            rows[FamilyGuest].append(
                {
                    "id": guest_id,
                    "person_id": person_id,
                    "cohort_id": cohort_id,
                    "token": f"guest{guest_id:010d}",
                    "created_at": joined + timedelta(days=3),
                    "channel": "telegram" if opened else None,
                    "channel_user_id": str(guest_user) if opened else None,
                    "chat_id": str(guest_user) if opened else None,
                    "first_name": rng.choice(NAMES) if opened else None,
                    "opened_at": joined + timedelta(days=4) if opened else None,
                    "reply": pick(rng, (("yes", 0.8), ("no", 0.2))) if replied else None,
                    "replied_at": joined + timedelta(days=4) if replied else None,
                    "access_needs": "Step-free access, please." if replied else None,
                    "question": None,
                    "day_before_sent_at": None,
                    "morning_sent_at": None,
                }
            )

    # Escalations, from patients chosen at random, with their audit trails and alerts.
    for index in range(args.escalations):
        person_id, user_id, _ = rng.choice(patients)
        escalation, trail, alerts = escalation_rows(
            rng, ids, index, person_id, user_id, staff_names
        )
        rows[Escalation].append(escalation)
        rows[EscalationEvent] += trail
        rows[OutboxMessage] += alerts
        found.escalation_ids.append(escalation["id"])
        if escalation["status"] in ("reported", "alerted"):
            found.open_escalation_ids.append(escalation["id"])

    # Console accounts (the first an admin), one argon2 hash for all; their past actions.
    password_hash = hash_password(PASSWORD)
    for index, name in enumerate(staff_names):
        email = f"staff{index + 1:02d}@clinic.test"
        found.staff_emails.append(email)
        rows[StaffAccount].append(
            {
                "id": ids.take("staff_account"),
                "email": email,
                "name": name,
                "role": "admin" if index == 0 else "clinician",
                "password_hash": password_hash,
                "entra_object_id": None,
                "telegram_user_id": None,
                "created_at": NOW - timedelta(days=90),
                "disabled_at": None,
                "password_changed_at": NOW - timedelta(days=89),
            }
        )
    for _ in range(max(200, args.escalations // 2)):
        account = rng.randint(1, args.staff)
        action = pick(rng, (("signed_in", 0.6), ("viewed_words", 0.3), ("signed_out", 0.1)))
        rows[AuditEvent].append(
            {
                "id": ids.take("audit_event"),
                "at": NOW - timedelta(minutes=rng.randint(10, 60 * 24 * 60)),
                "account_id": account,
                "action": action,
                "target": (
                    f"escalation:{rng.choice(found.escalation_ids)}"
                    if action == "viewed_words"
                    else None
                ),
                "detail": None,
            }
        )

    order = (
        Cohort,
        CohortEvent,
        Person,
        Invite,
        ScheduledMessage,
        Escalation,
        EscalationEvent,
        OutboxMessage,
        Attendance,
        PracticePlan,
        ThoughtChallenge,
        DoctorQuestion,
        FamilyGuest,
        StaffAccount,
        AuditEvent,
    )
    async with engine.begin() as connection:
        for model in order:
            await bulk(connection, model, rows[model])
            found.rows[model.__tablename__] = len(rows[model])
        if engine.dialect.name == "postgresql":
            # The ids were given: move each sequence past them, so the app's inserts go on.
            for model in order:
                name = model.__tablename__
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                    )
                )
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    return found


# ---- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request as the app saw it."""

    label: str
    status: int
    seconds: float


class ServerTimer:
    """ASGI middleware around the whole console: from the request's arrival to its last body
    chunk, per the label the benchmark's client put in a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.samples: list[Sample] = []
        # label -> error -> how often: exceptions that made the console answer 500
        self.errors: defaultdict[str, Counter[str]] = defaultdict(Counter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        label = ""
        for name, value in scope.get("headers", []):
            if name == LABEL_HEADER.encode():
                label = value.decode()
        status = 0
        done = False

        async def timed_send(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self.samples.append(Sample(label, status, time.perf_counter() - began))
                done = True
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception as error:
            # The console's error page was sent (and timed) already; keep what went wrong.
            if not done:
                self.samples.append(Sample(label, 500, time.perf_counter() - began))
            first_line = (str(error).splitlines() or [""])[0][:160]
            self.errors[label][f"{type(error).__name__}: {first_line}"] += 1
            raise


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max in milliseconds (inclusive method, so small samples work)."""
    if not seconds:
        return {}
    values = sorted(s * 1000 for s in seconds)
    cuts = (
        statistics.quantiles(values, n=100, method="inclusive")
        if len(values) > 1
        else [values[0]] * 99
    )
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "max": round(values[-1], 1)}


# ---- browsing ---------------------------------------------------------------------------------


class Unexpected(Exception):
    """A request answered other than a working console would."""


@dataclass
class Staff:
    """One member of staff's browser."""

    email: str
    admin: bool
    client: httpx.AsyncClient
    csrf: str = ""

    async def sign_in(self) -> None:
        """Open the sign-in page and send the form, as tests/web/support.Browser does."""
        page = await self.client.get("/login")
        token = CSRF_RE.search(page.text)
        if token is None:
            raise Unexpected("no CSRF field on the sign-in page")
        answer = await self.client.post(
            "/login",
            data={"csrf": token.group(1), "email": self.email, "password": PASSWORD, "next": "/"},
        )
        if answer.status_code != 303:
            raise Unexpected(f"sign-in of {self.email} answered {answer.status_code}")
        await self.get("", "/")  # the session's CSRF token, for a form sent first thing

    async def get(self, label: str, path: str) -> httpx.Response:
        """A page, labelled for the timer; remembers the CSRF token it carries."""
        answer = await self.client.get(path, headers={LABEL_HEADER: label})
        found = CSRF_RE.search(answer.text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return answer

    async def post(self, label: str, path: str) -> httpx.Response:
        """A form with the session's CSRF token."""
        return await self.client.post(path, data={"csrf": self.csrf}, headers={LABEL_HEADER: label})


@dataclass
class Plan:
    """Which ids the browsing visits; open escalations are handed out to acknowledge."""

    seeded: Seeded
    rng: random.Random
    to_acknowledge: list[int]

    def group(self) -> int:
        return self.rng.choice(self.seeded.cohort_ids)

    def escalation(self) -> int:
        return self.rng.choice(self.seeded.escalation_ids)

    def open_escalation(self) -> int:
        """An open one nobody acknowledged yet, while there are; then any."""
        return self.to_acknowledge.pop() if self.to_acknowledge else self.escalation()

    def path(self, label: str) -> str:
        """The path a page is requested with."""
        group = self.group()
        paths: dict[str, Callable[[], str]] = {
            "today": lambda: "/",
            "escalations": lambda: "/escalations",
            "escalations all": lambda: "/escalations?show=all",
            "escalation": lambda: f"/escalations/{self.escalation()}",
            "groups": lambda: "/groups",
            "group": lambda: f"/groups/{group}",
            "invites": lambda: f"/invites?group={group}",
            "day": lambda: f"/days?group={group}&day=3",
            "questions": lambda: "/questions",
            "group questions": lambda: f"/questions/{group}",
            "family": lambda: "/family",
            "group family": lambda: f"/family/{group}",
            "reminders": lambda: (
                f"/reminders?group={group}&date={self.seeded.reminder_dates[group].isoformat()}"
            ),
            "staff": lambda: "/staff",
            "audit": lambda: "/audit",
        }
        return paths[label]()


async def visit(staff: Staff, plan: Plan, label: str) -> None:
    """One step of a round: a page, or a form with the page it is sent from. What it answered
    is counted by the timer (anything but 200 is an error in the figures)."""
    if label == "acknowledge":
        escalation_id = plan.open_escalation()
        await staff.get("escalation", f"/escalations/{escalation_id}")
        await staff.post(label, f"/escalations/{escalation_id}/acknowledge")
    elif label == "words":
        await staff.post(label, f"/escalations/{plan.escalation()}/words")
    else:
        await staff.get(label, plan.path(label))


async def probe(staff: Staff, plan: Plan, label: str) -> bool:
    """Whether a page is built: anything but a 404 (from the router) says it is."""
    if label in ("acknowledge", "words"):
        return True
    answer = await staff.get("", plan.path(label))
    return answer.status_code != 404


async def browse(
    staff: Staff, plan: Plan, pages: Sequence[str], rounds: int, think: float, rng: random.Random
) -> None:
    """A member of staff's rounds: every page once a round, in a shuffled order."""
    for _ in range(rounds):
        order = [p for p in pages if staff.admin or p not in ADMIN_PAGES]
        rng.shuffle(order)
        for label in order:
            if think > 0:
                await asyncio.sleep(rng.uniform(0, 2 * think))
            await visit(staff, plan, label)


# ---- the run ----------------------------------------------------------------------------------


def make_settings(url: str) -> Settings:
    """Settings for the console alone: no Telegram, the default web limits."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        staff_chat_id=int(STAFF_CHAT_ID),
        web_secure_cookies="false",
    )


def make_console(runtime: Runtime) -> Console:
    """The console as `pmp run` builds it, alerts going to the seeded staff group."""
    return Console(
        settings=runtime.settings,
        clock=runtime.clock,
        sessions=runtime.sessions,
        content=runtime.content,
        escalator=Escalator.from_settings(
            runtime.settings, runtime.content, {"telegram": STAFF_CHAT_ID}
        ),
    )


def by_label(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    """The samples per page label (unlabelled ones, the probes and sign-ins, left out)."""
    grouped: defaultdict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.label:
            grouped[sample.label].append(sample)
    return dict(grouped)


def page_figures(
    label: str, alone: Sequence[Sample], together: Sequence[Sample], errors: Counter[str]
) -> dict[str, Any]:
    """One page's line of the table: its server time together, alone, and what went wrong."""
    figures = percentiles([s.seconds for s in together])
    wrong = Counter(f"HTTP {s.status}" for s in [*alone, *together] if s.status != 200)
    return {
        "page": label,
        "built": True,
        "admin_only": label in ADMIN_PAGES,
        "requests": len(together),
        "alone_p50_ms": percentiles([s.seconds for s in alone]).get("p50"),
        **figures,
        "meets_target": bool(figures) and figures["p95"] < TARGET_P95_MS,
        "errors": sum(wrong.values()),
        "error_kinds": dict(wrong + errors),
    }


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows per table after the run (what the pages had to look through)."""
    counts = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
    return {name: n for name, n in counts.items() if n}


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Seed, sign in, browse alone then together; the figures."""
    began = time.perf_counter()
    await prepare_database(url)
    # The clock runs on from the seeded "now" with real time: sessions are seen and kept
    # alive (last_seen_at written every 30 s) as in production.
    runtime = await open_runtime(make_settings(url), RunningClock(NOW), migrate=False)
    try:
        seeded = await seed(runtime.engine, args)
        setup_s = time.perf_counter() - began
        progress(f"seeded in {setup_s:.1f} s: {seeded.rows}")
        timer = ServerTimer(create_app(make_console(runtime)))
        # An exception in the app is the console's 500 page here, counted, not the client's.
        transport = httpx.ASGITransport(app=timer, raise_app_exceptions=False)
        rng = random.Random(args.seed + 1)
        open_ids = list(seeded.open_escalation_ids)
        rng.shuffle(open_ids)
        plan = Plan(seeded, rng, open_ids)
        staff = [
            Staff(email, index == 0, httpx.AsyncClient(transport=transport, base_url=BASE_URL))
            for index, email in enumerate(seeded.staff_emails)
        ]
        try:
            began = time.perf_counter()
            for member in staff:
                await member.sign_in()
            progress(f"{len(staff)} staff signed in in {time.perf_counter() - began:.1f} s")
            gc.collect()
            gc.freeze()  # as `pmp run` does once loaded

            # Alone: every page in turn by the admin; a 404 means the page is not built yet.
            admin = staff[0]
            every = CORE_PAGES + COLLEAGUE_PAGES + ADMIN_PAGES
            built = [label for label in every if await probe(admin, plan, label)]
            missing = [label for label in every if label not in built]
            timer.samples.clear()
            for _ in range(args.solo):
                for label in built:
                    await visit(admin, plan, label)
            alone = by_label(timer.samples)
            progress(f"alone: {len(timer.samples)} requests; not built: {missing or 'none'}")

            # Together: every member of staff browsing at once.
            timer.samples.clear()
            began = time.perf_counter()
            rngs = [random.Random(args.seed * 1000 + i) for i in range(len(staff))]
            async with asyncio.TaskGroup() as tasks:
                for member, member_rng in zip(staff, rngs, strict=True):
                    tasks.create_task(
                        browse(member, plan, built, args.rounds, args.think_ms / 1000, member_rng)
                    )
            wall = time.perf_counter() - began
            together = by_label(timer.samples)
            requests = len(timer.samples)
            progress(f"together: {requests} requests in {wall:.1f} s")
        finally:
            gc.unfreeze()
            for member in staff:
                await member.client.aclose()
        counts = await row_counts(runtime.engine)
    finally:
        await runtime.close()

    pages = [
        page_figures(label, alone.get(label, []), together.get(label, []), timer.errors[label])
        if label in built
        else {"page": label, "built": False}
        for label in every
    ]
    return {
        "setup_s": round(setup_s, 1),
        "pages": pages,
        "requests": requests,
        "wall_s": round(wall, 2),
        "requests_per_s": round(requests / wall, 1),
        "errors": sum(page.get("errors", 0) for page in pages),
        "rows": counts,
    }


def print_report(figures: dict[str, Any]) -> None:
    """Human-readable output."""
    code = figures["code"]
    target = figures["target_p95_ms"]
    lines = [
        f"Python {figures['python']}, SQLAlchemy {figures['sqlalchemy']}, "
        f"{figures['cpu_count']} CPUs ({figures['platform']})",
        f"code: commit {code['commit']}"
        + (
            f", with changes in {', '.join(code['changed_files'])}" if code["changed_files"] else ""
        ),
        f"database: {figures['database']} (seeded in {figures['setup_s']:.1f} s)",
        "load average (1, 5, 15 min) before the run "
        + " ".join(f"{v:.2f}" for v in figures["load_average"][:3])
        + ", after "
        + " ".join(f"{v:.2f}" for v in figures["load_average"][3:]),
        f"{figures['patients']} patients in {figures['groups']} groups, "
        f"{figures['escalations']} escalations; {figures['staff']} staff (1 admin) browsing at "
        f"once, {figures['rounds']} rounds, think time {figures['think_ms']:g} ms",
        "rows after the run: " + ", ".join(f"{name} {n}" for name, n in figures["rows"].items()),
        "",
        f"{'server time, ms':<52} {'alone':>6} | {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}  "
        f"{f'p95<{target:g}':>7} {'errors':>6}",
    ]
    for page in figures["pages"]:
        name = f"{page['page']:<16}{PAGE_PATHS[page['page']]}"
        if not page["built"]:
            lines.append(f"{name:<52} not built (404): skipped")
            continue
        if not page["requests"]:
            lines.append(f"{name:<52} no requests")
            continue
        verdict = "yes" if page["meets_target"] else "NO"
        lines.append(
            f"{name:<52} {page['alone_p50_ms'] or 0:>6.1f} | {page['requests']:>5} "
            f"{page['p50']:>7.1f} {page['p95']:>7.1f} {page['max']:>7.1f}  {verdict:>7} "
            f"{page['errors']:>6}"
        )
    slow = [p["page"] for p in figures["pages"] if p["built"] and not p.get("meets_target")]
    lines += [
        "",
        f"together: {figures['requests']} requests in {figures['wall_s']:.1f} s, "
        f"{figures['requests_per_s']:.1f} requests/s",
        "every built page meets the target"
        if not slow
        else f"over the target (p95 >= {target:g} ms): {', '.join(slow)}",
        "('alone': p50 with nothing else running, the page's own cost; 'n', p50, p95, max: all "
        "staff at once)",
    ]
    for page in figures["pages"]:
        for kind, count in page.get("error_kinds", {}).items():
            lines.append(f"error: {page['page']}: {count} x {kind}")
    print("\n".join(lines))


def unexpected_of(error: BaseException) -> list[str]:
    """The Unexpected answers in an error (the browsing tasks' come as a group); [] if another
    error is among them."""
    if isinstance(error, Unexpected):
        return [str(error)]
    if isinstance(error, BaseExceptionGroup):
        found = [unexpected_of(inner) for inner in error.exceptions]
        return [] if any(not f for f in found) else [m for f in found for m in f]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    version = code_version()
    load_before = os.getloadavg()  # another busy process on this machine skews the figures
    temp_dir = None if args.database_url else Path(tempfile.mkdtemp(prefix="pmp-console-"))
    url = args.database_url or f"sqlite+aiosqlite:///{temp_dir}/bench.db"
    try:
        result = asyncio.run(run(args, url))
    except (Unexpected, ExceptionGroup) as error:
        unexpected = unexpected_of(error)
        if not unexpected:
            raise
        for message in unexpected:
            print(f"[console] unexpected answer: {message}", file=sys.stderr)
        return 1
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    figures = {
        "load_average": [round(v, 2) for v in load_before] + [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "code": version,
        "database": describe_database(url, temp_dir is not None),
        "patients": args.patients,
        "groups": args.groups,
        "escalations": args.escalations,
        "staff": args.staff,
        "rounds": args.rounds,
        "think_ms": args.think_ms,
        "target_p95_ms": TARGET_P95_MS,
        **result,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
