"""The day's sessions: home-practice check-ins and shared thought-challenge cards."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.clock import ManualClock
from bot.db.models import AuditEvent, Cohort, Person, ThoughtChallenge
from bot.services import challenges
from tests.dialogs.test_challenge import THOUGHT, plan, reflect
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import enrol
from tests.web.support import Browser, browser_for

# The group starts Monday 7 December 2026 (GMT): day 1 Monday 7, day 2 Tuesday 8, ...
DAY_1_AFTERNOON = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
DAY_2_MORNING = datetime(2026, 12, 8, 8, 30, tzinfo=UTC)
UNSHARED = "Nobody at the clinic should read this unshared thought"


async def audit_lines(runtime: Runtime) -> list[tuple[str, str | None, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.action, r.target, r.detail) for r in rows if r.action != "signed_in"]


async def private_challenge(runtime: Runtime, person_id: int, thought: str) -> None:
    """A challenge planned and reflected on, never shared."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, person_id)
        assert person is not None
        made = await challenges.create(
            session,
            person,
            challenges.Plan(thought, 80, "Go swimming", "I will be sore", None),
            None,
            now,
            now,
            runtime.settings.tz,
        )
        challenges.reflect(
            made, challenges.Reflection("I swam", "no", "It was fine", "I can swim", 20), now
        )


async def group_of_two(runtime: Runtime, clock: ManualClock) -> tuple[Cohort, Chat, int]:
    """Robin sets a plan after day 1, says how it went and shares a reflected card through the
    bot; Jo sets no plan and keeps a card to herself."""
    cohort = await make_cohort(runtime)
    await enrol(runtime, cohort, "robin", name="Robin")
    jo = await enrol(runtime, cohort, "jo", name="Jo")
    robin = Chat(runtime, user_id="robin")
    clock.set(DAY_1_AFTERNOON)
    await robin.command("plan")
    await robin.press("Relaxation")
    await robin.say("10 minutes of breathing at 9pm")
    await robin.press("Movement")
    await robin.say("a 5-minute walk after breakfast")
    await plan(robin, when="tomorrow 4pm")
    await robin.command("challenge")
    await robin.press("Reflect now")
    await reflect(robin)
    await robin.press("Share with the team")
    await robin.press("Yes, share it")
    assert "shared your card with the team" in robin.text
    await private_challenge(runtime, jo, UNSHARED)
    clock.set(DAY_2_MORNING)
    await robin.command("plan")
    await robin.press("Done")
    await robin.press("Partly")
    await robin.say("My back was sore")
    assert "ready for the 09:30 review" in robin.text
    return cohort, robin, jo


async def sign_in_again(browser: Browser) -> None:
    """The clock moved on days: the morning's session has timed out."""
    assert (await browser.sign_in()).status_code == 303


async def test_the_day_shows_check_ins_and_only_shared_cards(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    cohort, _robin, jo = await group_of_two(runtime, clock)
    await sign_in_again(browser)
    page = await browser.client.get(f"/days?group={cohort.id}&day=2")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Day 2: Tuesday 8 December 2026</h1>" in html
    assert "Sessions start at 09:30" in html
    assert "1 of 2 patients set a plan; 1 said how it went." in html
    assert "10 minutes of breathing at 9pm" in html and "a 5-minute walk after breakfast" in html
    assert ">Done</strong>" in html and ">Partly done</strong>" in html
    assert "My back was sore" in html
    assert f"P{jo} Jo" in html and "No plan set" in html
    # Robin's shared card, reflected; Jo's never-shared card nowhere.
    assert THOUGHT in html and "If I pace the walk, I can manage it" in html
    assert 'Belief after</dt><dd class="nhsuk-summary-list__value">30%' in html
    assert UNSHARED not in html and "Go swimming" not in html
    assert await audit_lines(runtime) == [("viewed_day", f"cohort:{cohort.id}", "day 2")]


async def test_cards_shared_before_the_day_before_began_are_not_shown_again(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    cohort, _robin, _jo = await group_of_two(runtime, clock)
    await sign_in_again(browser)
    day_3 = await browser.client.get(f"/days?group={cohort.id}&day=3")
    assert day_3.status_code == 200
    assert THOUGHT not in day_3.text and "No cards have been shared for this day." in day_3.text
    # Robin set no plan after day 2.
    assert "0 of 2 patients set a plan" in day_3.text


async def test_day_1_has_no_review_of_home_practice(runtime: Runtime, browser: Browser) -> None:
    cohort = await make_cohort(runtime)
    await enrol(runtime, cohort, "robin", name="Robin")
    page = await browser.client.get(f"/days?group={cohort.id}&day=1")
    assert page.status_code == 200
    assert "There is no review of home practice on day 1." in page.text
    assert "Sessions start at 09:30.</p>" in page.text
    assert "Next day" in page.text and "Previous day" not in page.text


async def test_a_card_shared_later_appears_once_shared(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    jo = await enrol(runtime, cohort, "jo", name="Jo")
    clock.set(DAY_1_AFTERNOON)
    await sign_in_again(browser)
    await private_challenge(runtime, jo, UNSHARED)
    assert UNSHARED not in (await browser.client.get(f"/days?group={cohort.id}&day=2")).text
    async with runtime.sessions() as session, session.begin():
        (card,) = await session.scalars(select(ThoughtChallenge))
        assert challenges.share(card, clock.now())
    assert UNSHARED in (await browser.client.get(f"/days?group={cohort.id}&day=2")).text


async def test_patients_words_are_shown_literally(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    jo = await enrol(runtime, cohort, "jo", name="<b>Jo</b>")
    clock.set(DAY_1_AFTERNOON)
    await sign_in_again(browser)
    words = '<script>alert("x")</script> אני מפחד {{ 7*7 }}\nsecond line'
    await private_challenge(runtime, jo, words)
    async with runtime.sessions() as session, session.begin():
        (card,) = await session.scalars(select(ThoughtChallenge))
        challenges.share(card, clock.now())
    page = await browser.client.get(f"/days?group={cohort.id}&day=2")
    assert "<script>alert" not in page.text and "<b>Jo</b>" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; אני מפחד {{ 7*7 }}\nsecond line" in (
        page.text
    )
    assert "&lt;b&gt;Jo&lt;/b&gt;" in page.text
    assert '<dd class="nhsuk-summary-list__value pmp-words">&lt;script&gt;' in page.text


async def test_without_a_group_the_group_meeting_today_or_a_chooser(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    none_yet = await browser.client.get("/days")
    assert none_yet.status_code == 200 and "There are no groups yet." in none_yet.text
    cohort = await make_cohort(runtime)
    chooser = await browser.client.get("/days")
    assert chooser.status_code == 200 and "No group meets today." in chooser.text
    assert f'<option value="{cohort.id}"' in chooser.text
    clock.set(DAY_2_MORNING)
    await sign_in_again(browser)
    today = await browser.client.get("/days")
    assert today.status_code == 303
    assert today.headers["location"] == f"/days?group={cohort.id}&day=2"
    assert (await browser.client.get(f"/days?group={cohort.id}")).headers[
        "location"
    ] == f"/days?group={cohort.id}&day=2"
    clock.set(datetime(2026, 12, 12, 10, 0, tzinfo=UTC))  # a Saturday: pick a day
    await sign_in_again(browser)
    days = await browser.client.get(f"/days?group={cohort.id}")
    assert days.status_code == 200
    assert f'href="/days?group={cohort.id}&amp;day=12"' in days.text
    assert "Day 1, Monday 7 December 2026" in days.text
    assert await audit_lines(runtime) == []  # choosing shows nobody's details


async def test_two_groups_meeting_today_are_offered(
    runtime: Runtime, clock: ManualClock, browser: Browser
) -> None:
    first = await make_cohort(runtime)
    second = await make_cohort(runtime)
    clock.set(DAY_2_MORNING)
    await sign_in_again(browser)
    page = await browser.client.get("/days")
    assert page.status_code == 200
    assert f'href="/days?group={first.id}&amp;day=2"' in page.text
    assert f'href="/days?group={second.id}&amp;day=2"' in page.text


async def test_unknown_or_bad_group_and_day_get_a_kind_chooser(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    for query in ("group=abc", "group=99", "group=-1&day=2", "group=99999999999999999999&day=1"):
        page = await browser.client.get(f"/days?{query}")
        assert page.status_code == 404, query
        assert "There is no group with the number" in page.text
    for day in ("13", "0", "abc", "²", "1.5", "99999999999999999999"):
        page = await browser.client.get(f"/days?group={cohort.id}&day={day}")
        assert page.status_code == 404, day
        assert "The group has no day" in page.text and "Day 12, " in page.text
    no_group = await browser.client.get("/days?day=3")
    assert no_group.status_code == 200 and "Choose a group and a day" in no_group.text
    script = await browser.client.get("/days?group=<script>x</script>")
    assert script.status_code == 404 and "<script>x" not in script.text
    assert await audit_lines(runtime) == []


async def test_signed_out_the_page_asks_to_sign_in(console: Console) -> None:
    browser = browser_for(console)
    page = await browser.client.get("/days?group=1&day=2")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fdays%3Fgroup%3D1%26day%3D2"
