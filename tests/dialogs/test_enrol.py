"""Enrolment through neutral events: the happy path and every bad input the issue lists."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, InboxUpdate, Invite, OutboxMessage, Person
from bot.services.invites import pretty_code
from tests.conftest import STAFF_ID
from tests.helpers import (
    Chat,
    at_name_step,
    count,
    enrol_patient,
    make_cohort,
    make_invites,
    new_invite,
)


async def test_patient_enrols_with_consent_and_name(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)

    await chat.command("start", invite.code)
    assert "welcome to PMP Companion" in chat.text
    for number in ("999", "NHS 111 and choose option 2", "116 123"):
        assert number in chat.text, number  # crisis numbers before anything else is asked
    assert "Tuesday Group A" in chat.text and "Monday 7 December 2026" in chat.text
    assert "unless we think you or someone else may be at risk" in chat.text
    assert chat.labels == ["Yes, I agree", "No, thank you"]

    await chat.press("Yes, I agree")
    assert "What would you like us to call you?" in chat.text

    await chat.say("  Robin  ")
    assert "Thank you, Robin. You have joined Tuesday Group A." in chat.text
    assert "Pain Clinic, Room 4" in chat.text
    assert chat.labels == [
        "More pain or distress",
        "Today",
        "My programme",
        "Questions for the doctor",
        "Thought challenge",
        "Home practice",
        "Relaxation",
        "Friends and family day",
        "Reminder settings",
        "Help",
        "Privacy",
    ]

    async with runtime.sessions() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        assert (person.display_name, person.role, person.cohort_id) == (
            "Robin",
            "patient",
            invite.cohort_id,
        )
        assert person.consented_at == runtime.clock.now()
        stored = await session.get(Invite, invite.id)
        assert stored is not None and stored.used_by_person_id == person.id
        staff = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == "staff"))
        )
        assert [m.kind for m in staff] == ["patient_joined"]
        # The staff group is not end-to-end encrypted: a reference, never the name.
        assert "Robin" not in staff[0].text and f"P{person.id}" in staff[0].text


async def test_typed_code_in_any_case_with_hyphen_starts_enrolment(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    await chat.say(pretty_code(invite.code).lower())
    assert chat.labels == ["Yes, I agree", "No, thank you"]


async def test_wrong_code_gets_a_kind_reply_and_keeps_nothing(runtime: Runtime) -> None:
    await make_cohort(runtime)
    chat = Chat(runtime)
    await chat.command("start", "ZZZZ-ZZZZ")
    assert "couldn't find that code" in chat.text
    await chat.command("start", "not a code at all!")
    assert "couldn't find that code" in chat.text
    # Words the screen would ask about get the gentle words and the numbers once, and the
    # code is still looked up.
    await chat.command("start", "this pain is killing me")
    assert "couldn't find that code" in chat.text
    assert "you don't have to cope alone" in chat.text
    assert chat.text.count("Samaritans") == 1
    assert await count(runtime, Conversation) == 0
    assert await count(runtime, Person) == 0


async def test_used_code_is_refused(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    first = Chat(runtime, user_id="first")
    await first.command("start", invite.code)
    await first.press("Yes, I agree")
    await first.say("Robin")
    second = Chat(runtime, user_id="second")
    await second.command("start", invite.code)
    assert "already been used" in second.text
    assert await count(runtime, Person) == 1


async def test_expired_code_is_refused(runtime: Runtime, clock: ManualClock) -> None:
    invite = await new_invite(runtime)
    clock.advance(timedelta(days=14, seconds=1))
    chat = Chat(runtime)
    await chat.command("start", invite.code)
    assert "expired" in chat.text
    assert await count(runtime, Conversation) == 0


async def test_code_expiring_during_enrolment_is_explained(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat, _invite = await at_name_step(runtime)
    clock.advance(timedelta(days=15))
    await chat.say("Robin")
    assert "expired" in chat.text
    assert await count(runtime, Person) == 0


async def test_staff_code_is_refused_for_someone_not_on_the_staff_list(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort, role="staff")
    chat = Chat(runtime, user_id="424242", channel="telegram")
    await chat.command("start", invite.code)
    assert "code is for members of staff" in chat.text
    assert await count(runtime, Conversation) == 0


async def test_patient_code_is_refused_for_a_staff_account(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime, user_id=str(STAFF_ID), channel="telegram")
    await chat.command("start", invite.code)
    assert "code is for a patient" in chat.text
    async with runtime.sessions() as session:
        stored = await session.get(Invite, invite.id)
        assert stored is not None and stored.used_at is None


async def test_staff_member_links_their_account(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort, role="staff")
    chat = Chat(runtime, user_id=str(STAFF_ID), channel="telegram")
    await chat.command("start", invite.code)
    assert "You are on the staff list" in chat.text
    await chat.say("Sam Okafor")
    assert "Your account is linked" in chat.text
    async with runtime.sessions() as session:
        person = await session.scalar(select(Person))
        assert person is not None and (person.role, person.cohort_id) == ("staff", None)


async def test_enrolled_patient_opening_another_invite_keeps_their_group(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    other_group = await make_cohort(runtime)
    (other,) = await make_invites(runtime, other_group)
    await chat.command("start", other.code)
    assert "You have already joined Tuesday Group A, Robin" in chat.text
    assert "Today" in chat.labels
    async with runtime.sessions() as session:
        stored = await session.get(Invite, other.id)
        assert stored is not None and stored.used_at is None
    assert await count(runtime, Person) == 1


async def test_second_enrolment_with_the_same_code_by_the_same_account(runtime: Runtime) -> None:
    chat, invite = await at_name_step(runtime)
    await chat.say("Robin")
    await chat.command("start", invite.code)
    assert "You have already joined" in chat.text
    assert await count(runtime, Person) == 1


async def test_declining_keeps_nothing_but_the_declined_invite(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    await chat.command("start", invite.code)
    await chat.press("No, thank you")
    assert "I haven't saved anything about you" in chat.text
    assert await count(runtime, Person) == 0
    assert await count(runtime, Conversation) == 0
    assert await count(runtime, OutboxMessage) == 0  # not even what we said to them
    async with runtime.sessions() as session:
        stored = await session.get(Invite, invite.id)
        assert stored is not None and stored.declined_at is not None and stored.used_at is None
    # Changing their mind later still works.
    await chat.command("start", invite.code)
    await chat.press("Yes, I agree")
    await chat.say("Robin")
    assert "You have joined" in chat.text


async def test_cancel_during_enrolment_forgets_them(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    await chat.command("cancel")
    assert "I haven't saved anything about you" in chat.text
    assert await count(runtime, Conversation) == 0
    await chat.say("Robin")
    assert "I can only help people taking part" in chat.text


async def test_global_commands_during_enrolment_keep_the_place(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    for command, expected in [
        ("menu", "haven't finished joining"),
        ("help", "NHS 111"),
        ("privacy", "Who sees it"),
        ("frobnicate", "don't know that command"),
    ]:
        await chat.command(command)
        assert expected in chat.text, command
        assert chat.replies[-1].text.startswith("Thank you. What would you like us to call you?")
    await chat.say("Robin")
    assert "You have joined" in chat.text


async def test_stranger_gets_an_explanation_and_nothing_is_kept(runtime: Runtime) -> None:
    chat = Chat(runtime, user_id="stranger")
    for send in (chat.say("hello?"), chat.command("menu"), chat.command("start")):
        await send
        assert "I can only help people taking part in the programme" in chat.text
        for number in ("999", "NHS 111 and choose option 2", "116 123"):
            assert number in chat.text, number
    await chat.event(kind="button", payload="m:today")
    assert "I can only help people taking part" in chat.text
    assert await count(runtime, Conversation) == 0
    assert await count(runtime, Person) == 0
    assert await count(runtime, OutboxMessage) == 0  # replies to a stranger are not kept
    # The inbox keeps only the update id, never who sent it or what it said.
    assert set(InboxUpdate.__table__.columns.keys()) == {
        "id",
        "channel",
        "update_id",
        "received_at",
    }
    assert await count(runtime, InboxUpdate) == 4


async def test_sticker_photo_or_voice_gets_a_reply_and_the_prompt_again(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    await chat.sticker()
    assert "I can only read typed messages" in chat.text
    assert "What would you like us to call you?" in chat.text


async def test_unusable_names_are_reprompted_and_nothing_is_lost(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    for bad in ["x" * 5000, "🙂🙂🙂", "   ", "12345"]:
        await chat.say(bad)
        assert "can't use that as a name" in chat.text
        assert "up to 40 characters" in chat.text
        assert all(len(reply.text) <= 4096 for reply in chat.replies)
    await chat.say("مريم")  # right-to-left text is a fine name
    assert "Thank you, مريم." in chat.text


async def test_markup_characters_are_kept_literally(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime, name="<b>Jo</b> *_[x](y)")
    assert "Thank you, <b>Jo</b> *_[x](y)." in chat.text


async def test_typed_answer_to_a_choice_is_accepted_and_nonsense_reprompted(
    runtime: Runtime,
) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    await chat.command("start", invite.code)
    await chat.say("maybe later")
    assert 'Please tap "Yes, I agree"' in chat.text
    assert chat.labels == ["Yes, I agree", "No, thank you"]
    await chat.say("yes, i agree")
    assert "What would you like us to call you?" in chat.text


async def test_old_button_is_not_used(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    consent = await chat.command("start", invite.code)
    await chat.press("Yes, I agree", consent)
    await chat.press("No, thank you", consent)  # the earlier message's other button
    assert "That button is from an earlier message" in chat.text
    assert "What would you like us to call you?" in chat.text
    assert await count(runtime, Conversation) == 1


async def test_old_menu_buttons_still_work(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    menu = chat.replies
    await chat.command("help")
    await chat.press("Today", menu)
    assert "Your programme with Tuesday Group A starts on Monday 7 December 2026" in chat.text


async def test_the_same_update_twice_has_one_effect(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    first = await chat.event(update_id="dup-1", kind="text", text="Robin")
    again = await chat.event(update_id="dup-1", kind="text", text="Robin")
    assert first and again == []
    assert chat.last_outcome is not None and chat.last_outcome.duplicate
    assert await count(runtime, Person) == 1


async def test_button_pressed_by_someone_else_is_refused_quietly(runtime: Runtime) -> None:
    owner = await enrol_patient(runtime)
    intruder = Chat(runtime, user_id="intruder")
    payload = owner.replies[-1].buttons[0][0].payload
    replies = await intruder.event(kind="button", payload=payload, chat_id=owner.user_id)
    assert replies == []
    assert intruder.last_outcome is not None
    assert intruder.last_outcome.alert == "Sorry, this button is for someone else."


async def test_forwarded_text_is_not_taken_as_an_answer(runtime: Runtime) -> None:
    chat, _invite = await at_name_step(runtime)
    await chat.say("Robin", forwarded=True)
    assert "forwarded message" in chat.text
    assert await count(runtime, Person) == 0


async def test_two_people_racing_for_one_code(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    first, second = Chat(runtime, user_id="a"), Chat(runtime, user_id="b")
    for chat in (first, second):
        await chat.command("start", invite.code)
        await chat.press("Yes, I agree")
    await first.say("Alex")
    await second.say("Bea")
    assert "You have joined" in first.text
    assert "already been used" in second.text
    assert await count(runtime, Person) == 1


async def test_patient_text_outside_a_dialog_gets_help_numbers_and_the_menu(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    await chat.say("Is the car park open on Saturdays?")
    assert "nobody reads this chat straight away" in chat.text
    for number in ("999", "NHS 111 and choose option 2", "116 123"):
        assert number in chat.text, number
    assert "Today" in chat.labels


async def test_buttons_from_a_cancelled_attempt_do_not_work_in_the_next(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    first_attempt = await chat.command("start", invite.code)
    await chat.command("cancel")
    await chat.command("start", invite.code)
    await chat.press("No, thank you", first_attempt)
    assert "That button is from an earlier message" in chat.text
    async with runtime.sessions() as session:
        stored = await session.get(Invite, invite.id)
        assert stored is not None and stored.declined_at is None


async def test_forged_button_from_a_stranger_gets_the_explanation(runtime: Runtime) -> None:
    chat = Chat(runtime, user_id="stranger")
    await chat.event(kind="button", payload="d:999:yes")
    assert "I can only help people taking part" in chat.text
    assert await count(runtime, Conversation) == 0


async def test_stranger_sticker_cancel_and_forward_get_the_explanation(runtime: Runtime) -> None:
    chat = Chat(runtime, user_id="stranger")
    for send in (chat.sticker(), chat.command("cancel"), chat.say("hi", forwarded=True)):
        await send
        assert "I can only help people taking part" in chat.text


async def test_enrolled_patient_typing_an_invite_code_is_told_they_have_joined(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    cohort = await make_cohort(runtime)
    (other,) = await make_invites(runtime, cohort)
    await chat.say(pretty_code(other.code))
    assert "You have already joined" in chat.text


async def test_the_account_first_name_is_offered_as_a_one_tap_answer(runtime: Runtime) -> None:
    invite = await new_invite(runtime)
    chat = Chat(runtime)
    await chat.event(kind="command", command="start", text=invite.code, first_name="Robin")
    await chat.event(
        kind="button", payload=chat.replies[-1].buttons[0][0].payload, first_name="Robin"
    )
    assert chat.labels == ["Call me Robin"]
    await chat.press("Call me Robin")
    assert "Thank you, Robin. You have joined" in chat.text


async def test_no_offer_when_the_account_name_would_not_do(runtime: Runtime) -> None:
    for unusable in ("🙂", "x" * 41, ""):
        invite = await new_invite(runtime)
        chat = Chat(runtime, user_id=f"user-{len(unusable)}-{unusable[:1]}")
        await chat.command("start", invite.code)
        consent = chat.replies[-1].buttons[0][0].payload
        await chat.event(kind="button", payload=consent, first_name=unusable)
        assert chat.labels == [], unusable


def test_no_invite_code_reads_as_risk_language() -> None:
    """A patient typing their code must never be asked the safety question because of it."""
    from bot.safety.screening import default_screen
    from bot.services.invites import new_code

    screen = default_screen()
    codes = [new_code() for _ in range(2000)]
    assert not [c for c in codes if screen.screen(pretty_code(c)).needs_check]
    assert not [c for c in codes if screen.screen(c).needs_check]
    assert len(set(codes)) > 1990  # still random
