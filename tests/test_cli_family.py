"""`pmp family --cohort ID`: each patient's guests, their replies, access needs and questions."""

from __future__ import annotations

from click.testing import CliRunner

from bot.app.runtime import Runtime
from tests.dialogs.test_family import answer_all, guest_opens, invite
from tests.helpers import enrol_patient
from tests.test_cli_escalations import cli, refused, run_json, run_ok

__all__ = ["cli"]  # the fixture, shared with the escalations' CLI tests


async def test_staff_see_each_patients_guests(runtime: Runtime, cli: CliRunner) -> None:
    robin = await enrol_patient(runtime)
    await enrol_patient(runtime, user_id="patient-2", name="Jo")  # another group, not listed
    guest = await guest_opens(runtime, await invite(robin))
    await answer_all(guest)
    declined = await guest_opens(runtime, await invite(robin), "guest-2")
    await declined.press("No, I can't come")
    await declined.say("Alex")
    await declined.press("No questions")
    await invite(robin)  # not opened yet

    text = await run_ok(cli, "family", "--cohort", "1")
    lines = text.splitlines()
    assert lines[0] == "Friends and family day for group 1: Wed 16 Dec 2026. 1 coming, 3 invited."
    assert lines[2].split() == [
        "P1", "Sam", "coming", "Step-free", "access,", "please",
        "How", "can", "I", "help", "on", "bad", "days?",
    ]  # fmt: skip
    assert lines[3].split() == ["P1", "Alex", "not", "coming", "-", "-"]
    assert lines[4] == "P1       (link not opened yet)"
    assert "Robin" not in text and "Jo" not in text

    data = await run_json(cli, "family", "--cohort", "1")
    assert data["family_day"] == "2026-12-16"
    (patient,) = data["patients"]
    assert patient["reference"] == "P1"
    assert patient["guests"] == [
        {
            "first_name": "Sam",
            "status": "coming",
            "access_needs": "Step-free access, please",
            "question": "How can I help on bad days?",
        },
        {"first_name": "Alex", "status": "not_coming", "access_needs": None, "question": None},
        {"first_name": None, "status": "not_opened", "access_needs": None, "question": None},
    ]


async def test_a_group_without_guests_and_an_unknown_group(
    runtime: Runtime, cli: CliRunner
) -> None:
    await enrol_patient(runtime)
    text = await run_ok(cli, "family", "--cohort", "1")
    assert "0 coming, 0 invited" in text and "P1       (nobody invited)" in text
    assert "There is no group with id 99" in await refused(cli, "family", "--cohort", "99")
