"""The terminal demo starts the staff console too: acknowledging there reaches the patient here."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.test_demo_escalations import JOIN, patient_lines, report, run
from tests.web.support import hidden


def acknowledge_in_the_browser(transcript: str) -> str:
    """Staff sign in with what the demo printed and acknowledge the newest escalation."""
    address = re.search(r"open (http://\S+) in a browser", transcript)
    password = re.search(r"with the password (\S+) \(made", transcript)
    assert address and password, "the demo did not print the console's address and sign-in"
    with httpx.Client(base_url=address.group(1), follow_redirects=False) as browser:
        login = browser.get("/login")
        signed_in = browser.post(
            "/login",
            data={
                "csrf": hidden(login.text),
                "email": "demo@pmp.example",
                "password": password.group(1),
                "next": "/escalations",
            },
        )
        assert signed_in.status_code == 303, signed_in.text
        listed = browser.get("/escalations")
        number = re.search(r'href="/escalations/(\d+)"', listed.text)
        assert number, "no escalation listed in the console"
        page = browser.get(f"/escalations/{number.group(1)}")
        done = browser.post(
            f"/escalations/{number.group(1)}/acknowledge", data={"csrf": hidden(page.text)}
        )
        assert "Acknowledged." in done.text
    return "!time"


async def test_staff_acknowledge_in_the_console_and_the_patient_hears_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str | Callable[[str], str]] = [*JOIN, *report(), acknowledge_in_the_browser]
    keyboard = await run(tmp_path, monkeypatch, steps)
    transcript = keyboard.out.getvalue()
    assert "Staff console (the team's side): open http://127.0.0.1:" in transcript
    after_report = transcript.split("I have sent this to the pain clinic team")[-1]
    assert "team has seen" in patient_lines(after_report)
