"""The friends-and-family day: a patient's invitations, a guest's answers, every bad input."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, Escalation, FamilyGuest, OutboxMessage
from bot.services.family import ACCESS_MAX_LENGTH, QUESTION_MAX_LENGTH
from tests.conftest import BOT_USERNAME
from tests.helpers import Chat, count, enrol_patient

LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(g_[A-Za-z0-9_-]+)")
PATIENT_ONLY = "that is for patients on the programme"


async def invite(patient: Chat) -> str:
    """The patient asks for a link; returns the `/start` payload it carries."""
    await patient.command("family")
    await patient.press("Invite someone")
    found = LINK.search(patient.text)
    assert found is not None, patient.text
    return found.group(1)


async def guest_opens(runtime: Runtime, payload: str, user_id: str = "guest-1") -> Chat:
    """Someone not on the programme opens the link."""
    guest = Chat(runtime, user_id=user_id)
    await guest.command("start", payload)
    return guest


async def guests(runtime: Runtime) -> list[FamilyGuest]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(FamilyGuest).order_by(FamilyGuest.id)))


async def staff_texts(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == "staff").order_by(OutboxMessage.id)
        )
        return [row.text for row in rows]


async def answer_all(guest: Chat, name: str = "Sam") -> None:
    """Yes, a name, access needs and a question."""
    await guest.press("Yes, I'll come")
    await guest.say(name)
    await guest.say("Step-free access, please")
    await guest.say("How can I help on bad days?")


async def test_the_patient_sees_the_day_and_gets_a_link_for_one_person(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("family")
    assert "Wednesday 16 December 2026" in patient.text  # day 7 of a group starting 7 December
    assert "13:30  Friends and family session: understanding chronic pain together" in patient.text
    assert "14:00  Friends and family: how to support pain management at home" in patient.text
    assert "09:30" not in patient.text  # only the sessions guests come to
    assert "Pain Clinic, Room 4" in patient.text
    assert "up to 3 people" in patient.text
    assert patient.labels == ["Invite someone"]
    await patient.press("Invite someone")
    assert len(patient.replies) == 2
    assert "forward the next message" in patient.replies[0].text
    forwardable = patient.replies[1]
    assert forwardable.buttons == ()  # forwarded as it is
    assert forwardable.text.startswith("Hello, it's Robin.")
    (row,) = await guests(runtime)
    assert f"https://t.me/{BOT_USERNAME}?start=g_{row.token}" in forwardable.text
    assert 20 <= len(row.token) <= 32
    await patient.command("family")
    assert "1. Not opened yet" in patient.text
    assert patient.labels == ["Invite someone", "Withdraw invitation 1"]


async def test_the_menu_button_opens_the_family_day(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("menu")
    await patient.press("Friends and family day")
    assert "Friends and family day" in patient.text and "Invite someone" in patient.labels


async def test_a_guest_answers_and_the_patient_sees_who_is_coming(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    guest = await guest_opens(runtime, payload)
    welcome = guest.replies[0].text
    assert welcome.startswith("Hello. Robin has invited you to the friends and family day")
    assert "Wednesday 16 December 2026" in welcome and "Pain Clinic, Room 4" in welcome
    assert "What the day is for" in welcome and "How you can help" in welcome
    assert "Will you come?" in guest.text
    assert guest.labels == ["Yes, I'll come", "No, I can't come"]

    await patient.command("family")
    assert "1. Someone opened it, no answer yet" in patient.text
    assert patient.labels == ["Invite someone"]  # an opened invitation can't be withdrawn

    await answer_all(guest)
    assert "Thank you, Sam." in guest.text and "reminder the day before" in guest.text
    (row,) = await guests(runtime)
    assert (row.first_name, row.reply) == ("Sam", "yes")
    assert row.access_needs == "Step-free access, please"
    assert row.question == "How can I help on bad days?"
    assert row.channel_user_id == "guest-1" and row.opened_at is not None
    notice = (await staff_texts(runtime))[-1]
    assert "How can I help on bad days?" in notice and "invited by P1" in notice
    assert "Robin" not in notice

    await patient.command("family")
    assert "1. Sam is coming" in patient.text


async def test_a_guest_learns_nothing_clinical_about_the_patient(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("6")
    await patient.press("No, none of these")
    await patient.say("Worse since the walk")
    await patient.press("Yes, please contact me")
    guest = await guest_opens(runtime, await invite(patient))
    seen = [guest.text]
    await answer_all(guest)
    seen.append(guest.text)
    await guest.say("hello")
    seen.append(guest.text)
    everything = "\n".join(seen)
    for private in ("Worse since the walk", "pain than usual", "P1", "Tuesday Group A"):
        assert private not in everything


async def test_a_link_opened_by_a_second_person_tells_them_kindly_and_nothing_more(
    runtime: Runtime,
) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    await guest_opens(runtime, payload, "guest-1")
    other = await guest_opens(runtime, payload, "guest-2")
    assert "this invitation is for someone else" in other.text
    assert "Robin" not in other.text and "December" not in other.text
    assert other.labels == []
    (row,) = await guests(runtime)
    assert row.channel_user_id == "guest-1"
    await other.say("hello?")  # still a stranger to us
    assert "I can only help people taking part in the programme" in other.text


async def test_an_unknown_or_withdrawn_link_does_not_open(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    stranger = await guest_opens(runtime, "g_no-such-invitation")
    assert "this invitation link doesn't work" in stranger.text
    payload = await invite(patient)
    await patient.command("family")
    await patient.press("Withdraw invitation 1")
    assert "withdrawn" in patient.text and "Invite someone" in patient.labels
    assert await count(runtime, FamilyGuest) == 0
    late = await guest_opens(runtime, payload)
    assert "this invitation link doesn't work" in late.text


async def test_an_opened_invitation_cannot_be_withdrawn(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    await invite(patient)
    await patient.command("family")
    withdraw = next(
        b.payload
        for r in patient.replies
        for row in r.buttons
        for b in row
        if "Withdraw" in b.label
    )
    (row,) = await guests(runtime)
    guest = await guest_opens(runtime, f"g_{row.token}")
    await guest.press("Yes, I'll come")
    await guest.say("Sam")
    await patient.event(kind="button", payload=withdraw)  # the old button
    assert "Sam has already opened that invitation" in patient.text
    assert await count(runtime, FamilyGuest) == 1


async def test_a_guest_trying_patient_commands_is_told_kindly(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    for command in ("report", "plan", "question", "today", "settings", "family", "challenge"):
        await guest.command(command)
        assert PATIENT_ONLY in guest.text, command
        assert "Will you come?" in guest.text  # where they were, again
    await guest.press("Yes, I'll come")
    await guest.say("Sam")
    await guest.command("report")
    assert PATIENT_ONLY in guest.text and "access needs" in guest.text
    assert await count(runtime, Escalation) == 0


async def test_more_invitations_than_allowed_are_refused(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    for _ in range(3):
        await invite(patient)
    await patient.command("family")
    assert "Invite someone" not in patient.labels
    assert patient.labels == [f"Withdraw invitation {n}" for n in (1, 2, 3)]
    await patient.event(kind="button", payload="f:new")  # an older "Invite someone"
    assert "You have already invited 3 people" in patient.text
    assert await count(runtime, FamilyGuest) == 3


async def test_answers_over_the_limit_get_a_kind_re_prompt(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await guest.press("Yes, I'll come")
    await guest.say("x" * 41)
    assert "up to 40 characters" in guest.text and "What is your first name?" in guest.text
    await guest.say("Sam")
    await guest.say("a" * (ACCESS_MAX_LENGTH + 1))
    assert f"{ACCESS_MAX_LENGTH} characters or fewer" in guest.text
    assert "access needs" in guest.text and guest.labels == ["Nothing needed"]
    await guest.press("Nothing needed")
    await guest.say("q" * (QUESTION_MAX_LENGTH + 1))
    assert f"{QUESTION_MAX_LENGTH} characters or fewer" in guest.text
    assert guest.labels == ["No questions"]
    await guest.press("No questions")
    (row,) = await guests(runtime)
    assert (row.access_needs, row.question) == (None, None)
    await guest.say("maybe")  # not a button answer: the overview, with a way to change
    assert guest.labels == ["Change my answers"]


async def test_cancel_part_way_keeps_what_the_guest_said(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await guest.press("Yes, I'll come")
    await guest.say("Sam")
    await guest.command("cancel")
    assert "I've stopped" in guest.text and "is kept" in guest.text
    (row,) = await guests(runtime)
    assert (row.first_name, row.reply, row.access_needs) == ("Sam", "yes", None)
    async with runtime.sessions() as session:
        state = await session.scalar(
            select(Conversation).where(Conversation.channel_user_id == "guest-1")
        )
        assert state is not None and state.dialog is None
    await guest.command("cancel")
    assert "nothing to stop" in guest.text
    await guest.say("hello")
    assert "You are coming." in guest.text and guest.labels == ["Change my answers"]


async def test_a_guest_changes_their_answers_later(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    guest = await guest_opens(runtime, payload)
    await answer_all(guest)
    await guest.command("start", payload)  # the link again: the details and the questions
    assert "Robin has invited you" in guest.text and "Will you come?" in guest.text
    await guest.press("No, I can't come")
    # Their name is known and access needs no longer matter: straight to the question.
    assert "anything you would like to ask" in guest.text
    await guest.press("No questions")
    assert "Sorry you can't come" in guest.text
    (row,) = await guests(runtime)
    assert (row.first_name, row.reply, row.access_needs, row.question) == ("Sam", "no", None, None)
    await guest.command("start")
    await guest.press("Change my answers")
    assert "Will you come?" in guest.text
    await patient.command("family")
    assert "1. Sam can't come" in patient.text


async def test_inviting_and_answering_close_when_the_day_comes(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    await patient.command("family")
    clock.set(datetime(2026, 12, 16, 13, 30, tzinfo=runtime.settings.tz))
    await patient.event(kind="button", payload="f:new")
    assert "invitations are closed now" in patient.text
    await patient.command("family")
    assert "Invitations are closed now" in patient.text and patient.labels == []
    late = await guest_opens(runtime, payload)
    assert "has begun or passed" in late.text
    assert (await guests(runtime))[0].channel_user_id is None


async def test_a_patient_opening_a_guest_link_is_not_made_a_guest(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    await patient.command("start", payload)
    assert "This link is an invitation for a guest, not for you" in patient.text
    assert (await guests(runtime))[0].opened_at is None


async def test_one_account_answers_one_invitation(runtime: Runtime) -> None:
    first = await enrol_patient(runtime)
    second = await enrol_patient(runtime, user_id="patient-2", name="Jo")
    guest = await guest_opens(runtime, await invite(first))
    await guest.command("start", await invite(second))
    assert "each account can answer one invitation" in guest.text
    opened = [row.opened_at is not None for row in await guests(runtime)]
    assert opened == [True, False]


async def test_a_guest_gets_their_own_privacy_note_and_typed_messages_only(
    runtime: Runtime,
) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await guest.command("privacy")
    assert "deleted 30 days after the friends and family day" in guest.text
    assert "Will you come?" in guest.text
    await guest.sticker()
    assert "I can only read typed messages" in guest.text and "Will you come?" in guest.text


async def test_crisis_words_from_a_guest_get_signposting_first(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await guest.press("Yes, I'll come")
    await guest.say("Sam")
    await guest.say("I want to kill myself")
    assert "116 123" in guest.text and "999" in guest.text
    (row,) = await guests(runtime)
    assert row.access_needs is None  # their words were not taken as an answer
    assert await count(runtime, Escalation) == 0  # a guest is not a patient: no alert


async def test_an_ambiguous_phrase_from_a_guest_is_their_answer_and_gets_the_numbers(
    runtime: Runtime,
) -> None:
    """A guest is not a patient: no escalation is opened, but the words are never met with
    silence (crisis numbers are offered), and they still reach staff as the guest's question."""
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await guest.press("Yes, I'll come")
    await guest.say("Sam")
    await guest.press("Nothing needed")
    await guest.say("Honestly this is killing me, how do I help?")
    assert "Your question has gone to the team" in guest.text
    assert "you don't have to cope alone" in guest.text and "116 123" in guest.text
    assert await count(runtime, Escalation) == 0
    assert "this is killing me" in (await staff_texts(runtime))[-1]


async def test_a_guest_writing_after_the_day_is_told_it_has_passed(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(patient))
    await answer_all(guest)
    clock.advance(timedelta(days=25))
    await guest.say("hello")
    assert "has begun or passed" in guest.text


async def test_a_second_tap_on_invite_someone_makes_no_second_link(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    shown = await patient.command("family")
    await patient.press("Invite someone", shown)
    assert "personal invitation for one person" in patient.text
    await patient.press("Invite someone", shown)  # the same button again
    assert "I haven't made another invitation" in patient.text
    assert await count(runtime, FamilyGuest) == 1
    await patient.press("Invite someone")  # the fresh overview's button works
    assert await count(runtime, FamilyGuest) == 2
