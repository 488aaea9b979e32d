"""Groups in the console: list, create with a live calendar, one group's calendar and patients,
moving an event, moving a patient, booking a review and discharging."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.db.models import (
    AuditEvent,
    Cohort,
    CohortEvent,
    OutboxMessage,
    Person,
    ReviewBooking,
    ScheduledMessage,
)
from bot.services.events import DAY, REVIEW
from tests.helpers import Chat, make_cohort
from tests.web.support import Browser, hidden, unsigned

NEW_GROUP = {
    "name": "January in person",
    "start_date": "2027-01-11",
    "mode": "in-person",
    "location": "Pain Clinic, Room 4",
    "video_link": "",
    "qa_day": "10",
    "family_day": "7",
}


async def _form_key(browser: Browser, path: str) -> str:
    page = await browser.client.get(path)
    assert page.status_code == 200, page.text
    return hidden(page.text, "form_key")


async def _create(browser: Browser, **changes: str) -> tuple[str, object]:
    key = await _form_key(browser, "/groups/new")
    response = await browser.post("/groups/new", {**NEW_GROUP, **changes, "form_key": key})
    return key, response


async def _audit(runtime: Runtime) -> list[tuple[str, str | None, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.target, AuditEvent.detail).order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _count(runtime: Runtime, model: type, *where: object) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int(await session.scalar(query) or 0)


async def _patient(runtime: Runtime, name: str = "Robin") -> Person:
    async with runtime.sessions() as session:
        found = await session.scalar(select(Person).where(Person.display_name == name))
        assert found is not None
        return found


async def test_the_list_shows_each_group_and_its_patients(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    online = await make_cohort(runtime, date(2027, 1, 4), mode="online")
    page = await browser.client.get("/groups")
    assert page.status_code == 200
    assert "Tuesday Group A" in page.text and "Online" in page.text and "In person" in page.text
    assert "Monday 4 January 2027" in page.text and "Monday 7 December 2026" in page.text
    assert f'href="/groups/{online.id}"' in page.text
    assert '<th scope="col"' in page.text and "<caption" in page.text
    # Robin is the one patient: the in-person group's row says 1, the online one 0.
    rows = page.text.split("<tr")[2:]
    counts = [row.rsplit('nhsuk-table__cell">', 1)[1].split("<")[0] for row in rows]
    assert sorted(counts) == ["0", "1"]


async def test_create_a_group_and_see_its_calendar(runtime: Runtime, browser: Browser) -> None:
    form = await browser.client.get("/groups/new")
    assert 'hx-get="/groups/preview"' in form.text and 'value="10" selected' in form.text
    assert 'for="name"' in form.text and 'for="start_date"' in form.text
    _, response = await _create(browser)
    assert response.status_code == 303  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        (cohort,) = list(await session.scalars(select(Cohort)))
        assert (cohort.name, cohort.start_date, cohort.mode) == (
            "January in person",
            date(2027, 1, 11),
            "in-person",
        )
        assert (cohort.location, cohort.qa_day, cohort.family_day) == ("Pain Clinic, Room 4", 10, 7)
    assert unsigned(response.headers["location"]) == f"/groups/{cohort.id}?done=created"  # type: ignore[attr-defined]
    page = await browser.client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "The group has been created." in page.text
    assert "Monday 11 January 2027" in page.text and "Day 12" in page.text
    assert "12-month review" in page.text and "Discharge after this review" in page.text
    assert "Doctor&#39;s question-and-answer session" in page.text
    assert ("created_group", f"cohort:{cohort.id}", None) in await _audit(runtime)


async def test_a_double_submit_makes_one_group(runtime: Runtime, browser: Browser) -> None:
    key, first = await _create(browser)
    again = await browser.post("/groups/new", {**NEW_GROUP, "form_key": key})
    assert await _count(runtime, Cohort) == 1
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]  # type: ignore[attr-defined]
    assert [a for a, _, _ in await _audit(runtime)].count("created_group") == 1


async def test_html_script_and_right_to_left_names_are_shown_literally(
    runtime: Runtime, browser: Browser
) -> None:
    name = '<script>alert("x")</script> مجموعة & <b>'
    _, response = await _create(browser, name=name)
    assert response.status_code == 303  # type: ignore[attr-defined]
    for path in (response.headers["location"], "/groups", "/invites"):  # type: ignore[attr-defined]
        page = await browser.client.get(path)
        assert "<script>alert" not in page.text and "<b>" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; مجموعة &amp; &lt;b&gt;" in page.text
    async with runtime.sessions() as session:
        assert await session.scalar(select(Cohort.name)) == name


async def test_a_start_that_is_not_a_monday_is_refused_and_the_form_kept(
    runtime: Runtime, browser: Browser
) -> None:
    _, response = await _create(browser, start_date="2027-01-12", name="Kept <name>")
    page = response.text  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "There is a problem" in page and 'href="#start_date"' in page
    assert "The first day must be a Monday. 12 January 2027 is a Tuesday" in page
    assert 'id="start_date-error"' in page
    assert 'aria-describedby="start_date-hint start_date-error"' in page
    assert 'value="Kept &lt;name&gt;"' in page and 'value="2027-01-12"' in page
    assert "<title>Error: Create a group" in page
    assert await _count(runtime, Cohort) == 0


async def test_missing_fields_each_get_an_error(runtime: Runtime, browser: Browser) -> None:
    _, response = await _create(
        browser, name=" ", start_date="", mode="online", video_link="http://x", qa_day="13"
    )
    page = response.text  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    for field in ("name", "start_date", "video_link", "qa_day"):
        assert f'href="#{field}"' in page and f'id="{field}-error"' in page
    assert "Enter the full video link, starting with https://" in page
    assert await _count(runtime, Cohort) == 0


async def test_a_start_in_the_past_needs_the_box_ticked(runtime: Runtime, browser: Browser) -> None:
    _, refused = await _create(browser, start_date="2026-11-23")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "The first day is in the past" in refused.text  # type: ignore[attr-defined]
    assert await _count(runtime, Cohort) == 0
    _, made = await _create(browser, start_date="2026-11-23", allow_past="yes")
    assert made.status_code == 303  # type: ignore[attr-defined]
    assert await _count(runtime, Cohort) == 1


async def test_the_live_preview_moves_bank_holidays_and_warns(browser: Browser) -> None:
    fragment = await browser.client.get(
        "/groups/preview?start_date=2026-12-21&qa_day=3&family_day=6",
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    text = fragment.text
    assert "<html" not in text and 'id="calendar-preview"' in text
    # Monday 28 December is the Boxing Day bank holiday: day 5 moves to the 29th.
    assert "Monday 28 December 2026" in text and "Tuesday 29 December 2026" in text
    assert "fourth week" in text and "Monday 11 January 2027" in text
    qa_row = text.split("Day 3</td>")[1].split("</tr>")[0]
    assert "Doctor&#39;s question-and-answer session" in qa_row
    assert "Friends and family day" in text.split("Day 6</td>")[1].split("</tr>")[0]
    past = await browser.client.get("/groups/preview?start_date=2026-11-16")
    assert "is in the past" in past.text
    tuesday = await browser.client.get("/groups/preview?start_date=2026-12-22")
    assert "must be a Monday" in tuesday.text and "<table" not in tuesday.text
    nothing = await browser.client.get("/groups/preview?start_date=not-a-date")
    assert "Enter the first day" in nothing.text


async def test_bad_group_addresses_are_not_found(browser: Browser, patient: Chat) -> None:
    for path in (
        "/groups/abc",
        "/groups/0",
        "/groups/-1",
        "/groups/99999",
        "/groups/99999999999999999999",
        "/groups/1/events/day13/move",
        "/groups/1/events/nonsense/move",
        "/groups/1/patients/abc",
        "/groups/1/patients/99999",
        "/groups/1/patients/1/discharge",  # P1 is the group's member of staff, not a patient
        "/groups/%00",
    ):
        response = await browser.client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text, path


async def test_the_group_page_lists_patients_and_records_the_viewing(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    assert robin.cohort_id is not None
    page = await browser.client.get(f"/groups/{robin.cohort_id}")
    assert page.status_code == 200
    assert f"P{robin.id}" in page.text and "Robin" in page.text and "Joined" in page.text
    assert "Evening 18:00, morning 07:45" in page.text
    assert "Wednesday 9 December 2026" in page.text  # day 3
    assert ("viewed_patients", f"cohort:{robin.cohort_id}", None) in await _audit(runtime)
    assert "Robin" not in str(await _audit(runtime))


async def test_moving_an_event_shows_the_messages_first_then_moves_it_once(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    group = f"/groups/{robin.cohort_id}"
    form = await browser.client.get(f"{group}/events/day4/move")
    assert form.status_code == 200 and 'value="2026-12-10"' in form.text
    check = await browser.post(f"{group}/events/day4/move", {"new_date": "2026-12-11"})
    assert check.status_code == 200
    assert "Move Day 4?" in check.text and "Friday 11 December 2026" in check.text
    assert "is not a Monday to Thursday" in check.text
    assert "1 patient gets this message" in check.text
    assert "Hello Robin. A change to your programme: day 4 has moved from" in check.text
    # Nothing has changed yet.
    assert await _count(runtime, OutboxMessage, OutboxMessage.kind == "event_moved") == 0
    async with runtime.sessions() as session:
        day4 = await session.scalar(
            select(CohortEvent.on_date).where(
                CohortEvent.cohort_id == robin.cohort_id,
                CohortEvent.kind == DAY,
                CohortEvent.number == 4,
            )
        )
    assert day4 == date(2026, 12, 10)
    key = hidden(check.text, "form_key")
    fields = {"new_date": "2026-12-11", "start_time": "", "form_key": key}
    done = await browser.post(f"{group}/events/day4/move/confirm", fields)
    assert done.status_code == 303 and unsigned(done.headers["location"]) == f"{group}?done=moved"
    again = await browser.post(f"{group}/events/day4/move/confirm", fields)
    assert again.status_code == 303
    async with runtime.sessions() as session:
        day4 = await session.scalar(
            select(CohortEvent.on_date).where(
                CohortEvent.cohort_id == robin.cohort_id,
                CohortEvent.kind == DAY,
                CohortEvent.number == 4,
            )
        )
    assert day4 == date(2026, 12, 11)
    assert await _count(runtime, OutboxMessage, OutboxMessage.kind == "event_moved") == 1
    moves = [a for a in await _audit(runtime) if a[0] == "moved_event"]
    assert moves == [("moved_event", f"cohort:{robin.cohort_id}", "day4 2026-12-10 to 2026-12-11")]
    page = await browser.client.get(f"{group}?done=moved")
    assert "Friday 11 December 2026" in page.text


async def test_a_move_out_of_order_or_into_the_past_is_refused(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    group = f"/groups/{robin.cohort_id}"
    late = await browser.post(f"{group}/events/day3/move", {"new_date": "2026-12-20"})
    assert late.status_code == 400 and "Day 3 must come before Day 4" in late.text
    past = await browser.post(f"{group}/events/day3/move", {"new_date": "2026-11-01"})
    assert past.status_code == 400 and "is in the past" in past.text
    bad = await browser.post(
        f"{group}/events/day3/move", {"new_date": "soon", "start_time": "teatime"}
    )
    assert bad.status_code == 400
    assert "Enter a real date" in bad.text and "Enter a time like 09:30" in bad.text
    same = await browser.post(f"{group}/events/day3/move", {"new_date": "2026-12-09"})
    assert same.status_code == 400 and "already" in same.text
    assert await _count(runtime, OutboxMessage, OutboxMessage.kind == "event_moved") == 0


async def test_a_new_start_time_on_the_same_day(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    group = f"/groups/{robin.cohort_id}"
    fields = {"new_date": "2026-12-09", "start_time": "10:15"}
    check = await browser.post(f"{group}/events/day3/move", fields)
    assert check.status_code == 200 and "now starts at 10:15" in check.text
    key = hidden(check.text, "form_key")
    done = await browser.post(f"{group}/events/day3/move/confirm", {**fields, "form_key": key})
    assert done.status_code == 303
    page = await browser.client.get(group)
    day3 = page.text.split("Day 3</td>")[1].split("</tr>")[0]
    assert "10:15" in day3


async def test_discharge_asks_first_then_discharges(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    base = f"/groups/{robin.cohort_id}/patients/{robin.id}"
    page = await browser.client.get(base)
    assert page.status_code == 200 and f"P{robin.id}" in page.text
    ask = await browser.client.get(f"{base}/discharge")
    assert ask.status_code == 200 and "Their reminders stop." in ask.text
    async with runtime.sessions() as session:
        assert (await session.get(Person, robin.id)).discharged_at is None  # type: ignore[union-attr]
    key = hidden(ask.text, "form_key")
    done = await browser.post(f"{base}/discharge", {"form_key": key})
    assert done.status_code == 303
    await browser.post(f"{base}/discharge", {"form_key": key})
    async with runtime.sessions() as session:
        person = await session.get(Person, robin.id)
        assert person is not None and person.discharged_at is not None
    assert await _count(runtime, OutboxMessage, OutboxMessage.kind == "discharge") == 1
    assert ("discharged", f"person:{robin.id}", None) in await _audit(runtime)
    after = await browser.client.get(done.headers["location"])
    assert "They have been discharged." in after.text and "Discharged" in after.text
    assert "Move to another group" not in after.text
    other = await make_cohort(runtime, date(2026, 12, 14))
    late = await browser.client.get(f"{base}/transfer?to={other.id}")
    assert late.status_code == 409 and "has been discharged" in late.text
    assert (await browser.client.get(f"{base}/discharge")).status_code == 409


async def test_move_a_patient_to_an_online_group(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    online = await make_cohort(runtime, date(2026, 12, 14), mode="online")
    base = f"/groups/{robin.cohort_id}/patients/{robin.id}"
    page = await browser.client.get(base)
    assert f'<option value="{online.id}">' in page.text
    ask = await browser.client.get(f"{base}/transfer?to={online.id}")
    assert ask.status_code == 200 and "Move P" in ask.text
    assert "https://video.example.org/pmp-a" in ask.text
    async with runtime.sessions() as session:
        assert (await session.get(Person, robin.id)).cohort_id == robin.cohort_id  # type: ignore[union-attr]
    key = hidden(ask.text, "form_key")
    done = await browser.post(f"{base}/transfer", {"to": str(online.id), "form_key": key})
    assert done.status_code == 303
    assert (
        unsigned(done.headers["location"])
        == f"/groups/{online.id}/patients/{robin.id}?done=transferred"
    )
    await browser.post(f"{base}/transfer", {"to": str(online.id), "form_key": key})
    async with runtime.sessions() as session:
        person = await session.get(Person, robin.id)
        assert person is not None and person.cohort_id == online.id
        planned_groups = set(
            await session.scalars(
                select(CohortEvent.cohort_id)
                .join(ScheduledMessage, ScheduledMessage.event_id == CohortEvent.id)
                .where(ScheduledMessage.person_id == robin.id, ScheduledMessage.status == "planned")
            )
        )
        told = list(
            await session.scalars(
                select(OutboxMessage.text).where(OutboxMessage.kind == "group_moved")
            )
        )
    assert planned_groups == {online.id}
    assert len(told) == 1 and "Hello Robin. The team has moved you to another group" in told[0]
    assert "https://video.example.org/pmp-a" in told[0]
    assert "Monday 14 December 2026" in told[0]
    audit = [a for a in await _audit(runtime) if a[0] == "moved_patient"]
    assert audit == [
        ("moved_patient", f"person:{robin.id}", f"cohort:{robin.cohort_id} to cohort:{online.id}")
    ]
    # The old group's page no longer lists them; the new one does.
    assert "Robin" not in (await browser.client.get(f"/groups/{robin.cohort_id}")).text
    assert "Robin" in (await browser.client.get(f"/groups/{online.id}")).text


async def test_a_move_to_an_unknown_group_is_refused(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    base = f"/groups/{robin.cohort_id}/patients/{robin.id}"
    for target in ("abc", str(robin.cohort_id), "99999"):
        response = await browser.client.get(f"{base}/transfer?to={target}")
        assert response.status_code == 400 and "Choose a group from the list" in response.text


async def test_book_a_review_with_another_group(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    other = await make_cohort(runtime, date(2026, 12, 14))
    async with runtime.sessions() as session:
        review = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == other.id,
                CohortEvent.kind == REVIEW,
                CohortEvent.number == 1,
            )
        )
    assert review is not None
    base = f"/groups/{robin.cohort_id}/patients/{robin.id}"
    page = await browser.client.get(base)
    assert f'value="{review.id}"' in page.text and "1-month review" in page.text
    key = hidden(page.text, "form_key")
    done = await browser.post(f"{base}/review", {"event_id": str(review.id), "form_key": key})
    assert done.status_code == 303 and unsigned(done.headers["location"]) == f"{base}?done=review"
    async with runtime.sessions() as session:
        booking = await session.scalar(select(ReviewBooking))
        messages = list(
            await session.scalars(
                select(OutboxMessage.text).where(OutboxMessage.kind == "review_booked")
            )
        )
    assert booking is not None and (booking.person_id, booking.event_id) == (robin.id, review.id)
    assert len(messages) == 1 and "with another group" in messages[0]
    assert ("booked_review", f"person:{robin.id}", f"review1 cohort:{other.id}") in await _audit(
        runtime
    )
    after = await browser.client.get(done.headers["location"])
    assert "The review has been booked." in after.text and "booked now" in after.text
    # A review that was not offered is refused.
    key = hidden(after.text, "form_key")
    wrong = await browser.post(f"{base}/review", {"event_id": "99999", "form_key": key})
    assert wrong.status_code == 400 and "Choose one of the reviews shown" in wrong.text


async def test_a_patient_of_another_group_is_not_found_under_this_one(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    other = await make_cohort(runtime, date(2026, 12, 14))
    response = await browser.client.get(f"/groups/{other.id}/patients/{robin.id}")
    assert response.status_code == 404


async def test_no_inline_style_or_script_on_any_groups_page(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    robin = await _patient(runtime)
    base = f"/groups/{robin.cohort_id}"
    for path in (
        "/groups",
        "/groups/new",
        base,
        f"{base}/events/day4/move",
        f"{base}/patients/{robin.id}",
        f"{base}/patients/{robin.id}/discharge",
    ):
        page = await browser.client.get(path)
        assert page.status_code == 200, path
        assert "style=" not in page.text and "<script>" not in page.text, path
        assert page.text.count("<h1") == 1, path
