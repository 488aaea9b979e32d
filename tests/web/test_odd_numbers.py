"""Digits that are not ASCII ('²', '٣') in URLs and forms are a kind answer, never a 500."""

from __future__ import annotations

from tests.helpers import make_cohort
from tests.web.support import Browser


async def test_superscripts_and_arabic_digits_are_not_ids(
    browser: Browser, runtime: object
) -> None:
    cohort = await make_cohort(runtime)  # type: ignore[arg-type]
    for path in (
        "/groups/%C2%B2",
        "/groups/%C2%B2/patients/1",
        f"/groups/{cohort.id}/patients/%D9%A3",
        "/invites/%C2%B2/letter",
        "/invites?group=%C2%B2",
        "/escalations?group=%C2%B2",
        "/groups/preview?qa_day=%C2%B2&start_date=2026-12-07",
        "/days?group=%C2%B2&day=%C2%B2",
        "/questions/%C2%B2",
        "/family/%C2%B2",
        "/reminders?group=%C2%B2",
    ):
        response = await browser.client.get(path)
        assert response.status_code < 500, path
    made = await browser.post(f"/invites?group={cohort.id}", {"count": "²", "form_key": "k1"})
    assert made.status_code < 500
