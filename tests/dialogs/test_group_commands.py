"""In a group chat the bot says nothing about anyone's dialog: only staff get an answer, and
only in the staff group; forged button numbers get a kind reply, not a crash."""

from __future__ import annotations

from bot.app.runtime import Runtime
from bot.messages import Incoming
from bot.numbers import whole_number
from tests.conftest import STAFF_CHAT_ID, STAFF_ID
from tests.helpers import Chat, enrol_patient

THOUGHT = "If I walk to the shops, I will be in bed for two days"


async def test_a_patient_mid_dialog_typing_a_staff_command_in_a_group_gets_nothing_there(
    runtime: Runtime,
) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("challenge")
    await patient.say(THOUGHT)  # now part way through planning
    for text in ("", "I want to end my life"):
        before = len(patient.sender.sent)
        replies = await patient.event(
            kind="command",
            command="questions",
            text=text,
            chat_id="-100group",
            private_chat=False,
        )
        assert replies == [] and len(patient.sender.sent) == before  # nothing, anywhere
    # Back in the private chat, planning carries on where it was.
    await patient.say("75")
    assert "What will you do to test" in patient.text


async def test_staff_get_the_list_only_in_the_staff_group(runtime: Runtime) -> None:
    staff = Chat(runtime, user_id=str(STAFF_ID), channel="telegram")
    await staff.event(
        kind="command", command="questions", text="", chat_id="-100other", private_chat=False
    )
    assert "Please ask me that in the staff group" in staff.text
    await staff.event(
        kind="command",
        command="questions",
        text="",
        chat_id=str(STAFF_CHAT_ID),
        private_chat=False,
    )
    assert "Please ask me that in the staff group" not in staff.text
    assert staff.replies  # the list, or which groups have questions


def test_whole_numbers_are_bounded_to_what_the_database_holds() -> None:
    assert whole_number("123456789") == 123456789
    assert whole_number("9" * 10) is None
    assert whole_number("²") is None
    assert whole_number("") is None


async def test_forged_huge_ids_on_flow_buttons_get_a_kind_reply(runtime: Runtime) -> None:
    patient = await enrol_patient(runtime)
    huge = "9" * 25
    for payload in (f"c:r:{huge}", f"p:review:{huge}", f"f:w:{huge}", "f:w:²", f"q:edit:{huge}"):
        replies = await patient.event(kind="button", payload=payload)
        assert replies, payload  # never silence
        assert patient.last_outcome is not None


async def test_a_telegram_event_read_without_the_staff_list_is_nobody_s_staff(
    runtime: Runtime,
) -> None:
    # Fail closed: an adapter that forgot to ask the list does not make anyone staff.
    assert Incoming("telegram", str(STAFF_ID), "1", "1", "text").on_staff_list is False
    assert Incoming("console", "someone", "1", "1", "text").on_staff_list is None
    staff = Chat(runtime, user_id=str(STAFF_ID), channel="telegram")
    await staff.event(
        kind="command",
        command="questions",
        text="",
        chat_id=str(STAFF_CHAT_ID),
        private_chat=False,
        on_staff_list=None,  # type: ignore[arg-type]
    )
    assert staff.replies == []  # not for this bot to answer in a shared chat
