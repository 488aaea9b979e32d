"""Every template renders with exactly the variables it documents; labels are words."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import meta

from bot.content import CONTENT_DIR, Clinic, Content
from bot.time.calendar import DayStatus

content = Content()
TEMPLATES = sorted(
    p.relative_to(CONTENT_DIR).with_suffix("").as_posix() for p in CONTENT_DIR.rglob("*.j2")
)
_VARS = re.compile(r"\{#\s*vars:\s*(.*?)\s*#\}")

COHORT = SimpleNamespace(
    name="Group A",
    start_date=date(2026, 12, 7),
    mode="online",
    location=None,
    video_link="https://video.example.org/a",
)
SAMPLES: dict[str, Any] = {
    "name": "Robin",
    "clinic": Clinic("the Pain Management Programme Administrator", "01223 216993", "9am to 5pm"),
    "cohort": COHORT,
    "cohort_name": "Group A",
    "reference": "P7",
    "status": DayStatus(
        "between_days", day_number=3, next_day=date(2026, 12, 8), next_day_number=2
    ),
    "sessions": content.timetable(),
    "last_day": date(2026, 12, 24),
    "days": [(1, date(2026, 12, 7)), (2, date(2026, 12, 8))],
    "today": date(2026, 12, 7),
    "is_patient": True,
    "limit": 40,
    "name_limit": 40,
    "low": 0,
    "high": 10,
    "code": "ABCD-EFGH",
    "now": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    "messages": ["A message for staff"],
    "count": 2,
    "choices": ["Yes, I agree", "No, thank you"],
    "user_id": "5001",
    "account": "7001",
    "carrier": "Telegram",
    "minutes": 15,
    "chat_id": "-100777",
    "group": True,
    "family_day": True,
    "qa_day": True,
    "number": 3,
    "on_date": date(2026, 12, 9),
    "start": "09:30",
    "months": 6,
    "first_day": date(2026, 12, 7),
    "next_review": SimpleNamespace(number=6, on_date=date(2027, 6, 24), kind="review"),
    "event": SimpleNamespace(number=6, on_date=date(2027, 6, 24), kind="review"),
    "items": [
        {
            "title": "Day 1",
            "on_date": date(2026, 12, 7),
            "start": "09:30",
            "answer": "yes",
            "elsewhere": False,
            "place": COHORT,
        },
        {
            "title": "1-month review",
            "on_date": date(2027, 1, 25),
            "start": "10:00",
            "answer": None,
            "elsewhere": True,
            "place": COHORT,
        },
    ],
    "options": [{"on_date": date(2027, 6, 28), "start": "10:00", "cohort": COHORT}],
    "evening": "18:00",
    "morning": "07:45",
    "quiet": "21:00 to 07:30",
    "paused": True,
    "paused_until": datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
    "in_quiet": {"asked": "22:00", "sent": "20:59"},
    "elsewhere": True,
    "same_day": False,
    "old_date": date(2026, 12, 8),
    "unreachable": ["P3"],
    "failed": [SimpleNamespace(reference="P4", what="Day 3 morning reminder", expired=True)],
    "more_unreachable": 3,
    "more_failed": 120,
    "who": "Sam",
    "when": datetime(2026, 11, 26, 10, 42, tzinfo=UTC),
    "title": "New report",
    "first_name": "Robin",
    "category": "pain",
    "severity": 7,
    "red_flag": True,
    "risk": "check",
    "check_answer": None,
    "contact_wanted": True,
    "wrote": True,
    "complete": False,
    "reported_at": datetime(2026, 11, 26, 10, 40, tzinfo=UTC),
    "state_line": "Acknowledged by Sam at 10:42",
    "words": "It is worse since the walk.",
    "open_now": False,
    "opening": datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    "discharged": False,
    "concern": "self",
    "concerns": ["self", "safeguarding"],
    "other_concerns": ["safeguarding"],
    "check_safe": True,
    "sexual": False,
    "child": False,
    "reason": "words",
    "check_reason": "words",
    "plan_answer": None,
    "cohort_id": 3,
}


def samples_for(name: str) -> dict[str, Any]:
    """The shared samples, with any of the template's own folder (tests/content_samples)."""
    folder = name.partition("/")[0]
    module = f"tests.content_samples.{folder}"
    try:
        own = importlib.import_module(module).SAMPLES
    except ModuleNotFoundError as missing:
        if missing.name != module:
            raise  # a samples file that itself fails to import must fail the test
        own = {}
    return SAMPLES | own


def documented(name: str) -> set[str]:
    """The variables a template's first-line comment lists."""
    source = (CONTENT_DIR / f"{name}.j2").read_text(encoding="utf-8")
    found = _VARS.search(source)
    assert found, f"{name}.j2 must start with a {{# vars: ... #}} comment"
    listed = found.group(1)
    return set() if listed == "(none)" else {v.strip() for v in listed.split(",")}


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_documents_the_variables_it_uses(name: str) -> None:
    source = (CONTENT_DIR / f"{name}.j2").read_text(encoding="utf-8")
    used = meta.find_undeclared_variables(content.env.parse(source))
    assert used <= documented(name), f"{name} uses undocumented {used - documented(name)}"


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_renders_with_its_documented_variables(name: str) -> None:
    samples = samples_for(name)
    text = content.render(name, **{key: samples[key] for key in documented(name)})
    assert text.strip()
    assert len(text) <= 4096


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_uses_british_spelling(name: str) -> None:
    source = (CONTENT_DIR / f"{name}.j2").read_text(encoding="utf-8").lower()
    for american in ("color", "center", "organize", "cancelation", "behavior", "favor"):
        assert american not in source, f"{name}: {american!r}"
    # "programme" everywhere, never "program" (computer programs are not meant here).
    assert re.search(r"\bprograms?\b", source) is None, name


def test_missing_variable_fails_loudly() -> None:
    with pytest.raises(Exception, match="undefined"):
        content.render("menu/menu")


@pytest.mark.parametrize("key", sorted(content.labels))
def test_button_labels_are_words(key: str) -> None:
    label = content.label(key)
    assert any(ch.isalpha() for ch in label), f"{key} must be words, not only symbols"
    assert len(label) <= 30


def test_timetable_matches_the_typical_day() -> None:
    times = [s["time"] for s in content.timetable()]
    assert times == ["09:30", "09:45", "11:00", "11:30", "12:30", "13:30", "14:00", "15:00"]


def test_commands_have_descriptions() -> None:
    commands = content.commands()
    assert {"menu", "today", "help", "privacy", "cancel"} <= set(commands)
    assert all(3 <= len(text) <= 256 for text in commands.values())


@pytest.mark.parametrize(
    "name", ["enrol/welcome", "common/help", "common/not_understood", "common/stranger"]
)
def test_crisis_numbers_are_where_someone_in_distress_may_look(name: str) -> None:
    samples = samples_for(name)
    text = content.render(name, **{key: samples[key] for key in documented(name)})
    for number in ("999", "NHS 111 and choose option 2", "116 123"):
        assert number in text, (name, number)


CLINIC = Clinic("the Pain Management Programme Administrator", "01223 216993", "9am to 5pm")
CLINIC_TEMPLATES = {
    "common/help": {"is_patient": True},
    "attendance/no": {"name": "Robin", "event": SAMPLES["event"]},
    "report/sent": {
        "open_now": False,
        "opening": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "contact_wanted": True,
        "category": "distress",
        "discharged": False,
    },
    "reminders/discharge": {"name": "Robin", "finished": False},
}


@pytest.mark.parametrize("name", sorted(CLINIC_TEMPLATES))
def test_the_clinic_phone_is_shown_where_a_patient_may_need_it(name: str) -> None:
    text = Content(clinic=CLINIC).render(name, **CLINIC_TEMPLATES[name])
    assert "call the Pain Management Programme Administrator on 01223 216993 (9am to 5pm)" in text


@pytest.mark.parametrize("name", sorted(CLINIC_TEMPLATES))
def test_without_a_clinic_phone_the_texts_still_read_well(name: str) -> None:
    text = Content(clinic=Clinic()).render(name, **CLINIC_TEMPLATES[name])
    assert "call" not in text.replace("call 999", "").replace("call NHS 111", "").replace(
        "call 116 123", ""
    )
    assert " on ." not in text and "()" not in text and "\n\n\n" not in text


def test_patients_are_told_what_the_programme_asks_of_them() -> None:
    joined = content.render("enrol/done", name="Robin", cohort=COHORT, first_day=date(2026, 12, 7))
    assert "come to all 12 days and to the group reviews" in joined
    assert "keep Fridays and weekends light" in joined
    evening = {
        "name": "Robin",
        "on_date": date(2026, 12, 7),
        "sessions": content.timetable(),
        "start": "09:30",
        "cohort": COHORT,
        "family_day": False,
        "qa_day": False,
    }
    first = content.render("reminders/day_evening", number=1, **evening)
    assert "Sitting for a long time may be uncomfortable" in first
    assert "stand up and move about" in first
    later = content.render("reminders/day_evening", number=2, **evening)
    assert "Sitting for a long time" not in later  # said once, before day 1
