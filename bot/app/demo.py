"""The terminal demo: a demo group, a patient at the keyboard, a clock the user can move."""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.app.channels.console import CHANNEL, PRIVATE_STAFF_CHAT, STAFF_CHAT, ConsoleSender
from bot.app.runtime import Runtime, open_runtime
from bot.app.turns import TurnRunner
from bot.app.web.app import create_app
from bot.app.web.console import Console
from bot.app.web.serve import Served, serve
from bot.clock import ManualClock, SystemClock
from bot.config import HOME, Settings
from bot.db.models import Cohort
from bot.messages import Incoming
from bot.numbers import whole_number
from bot.safety.first_response import FirstResponder
from bot.services import cohorts, invites, people, staff_accounts
from bot.services.cohorts import CohortRequest
from bot.services.escalations import ACK, DETAILS, RESOLVE
from bot.services.events import day_dates, events_of
from dialogs.flows import NUDGE_RENDERERS
from scheduler.dispatcher import Dispatcher
from scheduler.escalations import EscalationWatchdog
from scheduler.failures import FailureReporter
from scheduler.reminders import ReminderReleaser

DEMO_DB = HOME / "data" / "demo.db"  # beside the bot's own, wherever the demo starts
DEMO_USER = "demo-patient"
DEMO_STAFF = "demo-staff"
DEMO_ADMIN = "demo@pmp.example"
_LATER = re.compile(r"^(\d+)\s*([mhd])$")
# !ack 3, !resolve 3 <note>, !details 3: press a button on staff message 3 as the demo staff.
_STAFF_ACTIONS = {"ack": ACK, "resolve": RESOLVE, "details": DETAILS}


def next_monday(today: date) -> date:
    """The Monday after today (a week on, if today is a Monday)."""
    return today + timedelta(days=7 - today.weekday())


class Demo:
    """Reads lines, turns them into neutral events, prints the bot's replies."""

    def __init__(self, runtime: Runtime, clock: ManualClock, out: TextIO) -> None:
        self.runtime = runtime
        self.clock = clock
        self.out = out
        self.sender = ConsoleSender(out)
        self.runner: TurnRunner = runtime.runner({CHANNEL: STAFF_CHAT})
        self.responder = FirstResponder(
            self.runner.screener,
            runtime.content,
            self.sender,
            lambda incoming: incoming.user_id == DEMO_STAFF,
        )
        self.watchdog = EscalationWatchdog(runtime.sessions, self.runner.escalator)
        self.dispatcher = Dispatcher(
            runtime.sessions,
            {CHANNEL: self.sender},
            clock,
            ReminderReleaser(
                runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
            ),
            FailureReporter(runtime.sessions, runtime.content, {CHANNEL: STAFF_CHAT}),
        )
        self.update_id = 0
        self.cohort: Cohort | None = None
        self._console_work: set[asyncio.Task[None]] = set()

    async def open_console(self) -> Served | None:
        """Start the staff console on the demo's database and clock, with a demo admin."""
        password = secrets.token_urlsafe(12)
        async with self.runtime.sessions() as session, session.begin():
            await staff_accounts.add_account(
                session,
                DEMO_ADMIN,
                "Demo Admin",
                "admin",
                password,
                self.clock.now(),
                chosen_by_them=True,  # a demo's password need not be changed first
            )
        console = Console(
            settings=self.runtime.settings,
            clock=self.clock,
            sessions=self.runtime.sessions,
            content=self.runtime.content,
            escalator=self.runner.escalator,
            wake=self._console_acted,
        )
        settings = self.runtime.settings
        try:
            served = await serve(create_app(console), settings.web_listen, settings.web_port)
        except OSError as error:
            self.show("demo/console_unavailable", reason=str(error))
            return None
        self.show("demo/console", address=served.address, email=DEMO_ADMIN, password=password)
        return served

    def _console_acted(self) -> None:
        """Staff acted in the console: show the patient what that sent them, straight away."""
        task = asyncio.create_task(self.deliver_due())
        self._console_work.add(task)
        task.add_done_callback(self._console_work.discard)

    def show(self, template: str, **variables: object) -> None:
        """Print demo wording (not the bot's)."""
        self.out.write(self.runtime.content.render(template, **variables) + "\n")
        self.out.flush()

    async def set_up(self) -> str:
        """Create the demo group and one patient invite; return the code."""
        now = self.clock.now()
        local_today = now.astimezone(self.runtime.settings.tz).date()
        async with self.runtime.sessions() as session, session.begin():
            self.cohort = await cohorts.create_cohort(
                session,
                CohortRequest(
                    name="Demo group",
                    start_date=next_monday(local_today),
                    mode="in-person",
                    location="Pain Clinic seminar room (demo)",
                ),
                now,
            )
            settings = self.runtime.settings
            (invite,) = await invites.create_invites(
                session, self.cohort.id, "patient", 1, now, settings.invite_valid_days, settings.tz
            )
        return invite.code

    async def _staff_member(self) -> None:
        """Sam from the team, who acknowledges and resolves alerts (enrolled on first use, so
        the demo patient is P1)."""
        async with self.runtime.sessions() as session, session.begin():
            if await people.find_account(session, CHANNEL, DEMO_STAFF) is None:
                await people.enrol(
                    session,
                    role="staff",
                    cohort_id=None,
                    display_name="Sam",
                    channel=CHANNEL,
                    user_id=DEMO_STAFF,
                    chat_id=PRIVATE_STAFF_CHAT,
                    now=self.clock.now(),
                )

    async def send(self, user: str = DEMO_USER, chat: str = DEMO_USER, **fields: Any) -> None:
        """Send one event (as the demo patient, unless said otherwise); print what comes back."""
        self.update_id += 1
        incoming = Incoming(
            channel=CHANNEL,
            user_id=user,
            chat_id=chat,
            update_id=str(self.update_id),
            **fields,
        )
        # As on Telegram: crisis signposting first, before the turn touches the database.
        incoming = await self.responder.respond(incoming)
        outcome = await self.runner.run(incoming)
        if outcome.alert:
            self.out.write(f"\n  (only you see this) {outcome.alert}\n")
        await self.runner.deliver(outcome, {CHANNEL: self.sender})
        await self.deliver_due()

    async def deliver_due(self) -> None:
        """Raise what the escalation watchdog finds due, then send whatever is due now."""
        await self.watchdog.run(self.clock.now())
        await self.dispatcher.drain()

    async def line(self, typed: str) -> bool:
        """Handle one typed line; False when the user wants to leave."""
        text = typed.rstrip("\n")
        choices = self.sender.choices
        self.sender.new_turn()  # what comes back now is numbered afresh
        if text.startswith("!"):
            return await self.demo_command(text[1:].strip())
        self.sender.choices = choices  # a number typed now means one shown before
        button = self.sender.choice(text)
        self.sender.new_turn()
        if button is not None:
            await self.send(kind="button", payload=button.payload)
        elif text.startswith("/"):
            head, _, rest = text.partition(" ")
            await self.send(kind="command", command=head[1:].lower(), text=rest.strip())
        else:
            await self.send(kind="text", text=text)
        return True

    async def demo_command(self, command: str) -> bool:
        """`!day`, `!later`, `!time`, `!staff`, `!help`, `!quit`."""
        word, _, argument = command.partition(" ")
        argument = argument.strip()
        if word in ("quit", "exit"):
            return False
        day_number = whole_number(argument)
        if word == "day" and day_number is not None and 1 <= day_number <= 12 and self.cohort:
            async with self.runtime.sessions() as session:
                days = day_dates(await events_of(session, self.cohort))
            tz = self.runtime.settings.tz
            # Just after the morning reminder, so it arrives.
            self.clock.set(datetime.combine(days[day_number - 1], time(8, 0), tzinfo=tz))
            self.show("demo/time", now=self.clock.now())
            await self.deliver_due()
        elif word == "later" and (match := _LATER.match(argument)):
            amount, unit = int(match.group(1)), match.group(2)
            units = {"m": "minutes", "h": "hours", "d": "days"}
            self.clock.advance(timedelta(**{units[unit]: amount}))
            self.show("demo/time", now=self.clock.now())
            await self.deliver_due()
        elif word == "time":
            self.show("demo/time", now=self.clock.now())
        elif word == "staff":
            self.show(
                "demo/staff",
                messages=[
                    {"number": n, "text": m.text, "private": n in self.sender.private_numbers}
                    for n, m in enumerate(self.sender.staff_messages, start=1)
                ],
            )
        elif word in _STAFF_ACTIONS:
            await self.staff_press(word, argument)
        elif word == "help":
            self.show("demo/help")
        else:
            self.show("demo/bad_command")
        return True

    async def staff_press(self, word: str, argument: str) -> None:
        """Press an alert's button as the demo member of staff (and write the outcome note)."""
        number_text, _, note = argument.partition(" ")
        number = whole_number(number_text)
        payload = self.sender.staff_button(number, _STAFF_ACTIONS[word]) if number else None
        if number is None or payload is None or (word == "resolve" and not note.strip()):
            self.show("demo/bad_staff_command")
            return
        await self._staff_member()
        await self.send(
            user=DEMO_STAFF,
            chat=STAFF_CHAT,
            kind="button",
            payload=payload,
            private_chat=False,
            message_id=str(number),
        )
        if word == "resolve":
            # Typed in Sam's own chat with the bot, where the note was asked for.
            await self.send(
                user=DEMO_STAFF, chat=PRIVATE_STAFF_CHAT, kind="text", text=note.strip()
            )


async def run_demo(
    settings: Settings, stdin: TextIO | None = None, out: TextIO | None = None
) -> None:
    """Run the terminal demo on a fresh SQLite database until end of input or `!quit`."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    database = Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    for leftover in [database] + [database.with_name(database.name + s) for s in ("-wal", "-shm")]:
        leftover.unlink(missing_ok=True)
    clock = ManualClock(SystemClock().now())
    runtime = await open_runtime(settings, clock)
    try:
        demo = Demo(runtime, clock, out)
        code = await demo.set_up()
        demo.show("demo/intro", cohort=demo.cohort, code=invites.pretty_code(code), now=clock.now())
        console = await demo.open_console()
        await demo.send(kind="command", command="start", text=code)
        while True:
            out.write("\nyou › ")
            out.flush()
            typed = await asyncio.to_thread(stdin.readline)
            if not typed or not await demo.line(typed):
                break
        if console is not None:
            await console.stop()
    finally:
        await runtime.close()


def demo_settings(base: Settings) -> Settings:
    """The demo always runs on its own SQLite file, whatever DATABASE_URL says."""
    # Nothing from the demo may reach a real Teams channel or a real lead.
    return base.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{DEMO_DB}",
            "teams_webhook_url": "",
            "staff_lead_telegram_ids": [],
        }
    )
