"""`pmp family`: who comes to a group's friends-and-family day, access needs and questions."""

from __future__ import annotations

from typing import Any

import click

from bot.app.cli import common
from bot.app.runtime import Runtime
from bot.services import cohorts
from bot.services import family as family_service
from bot.services.cohorts import CohortError
from bot.services.people import reference

REPLIES = {"coming": "coming", "not_coming": "not coming", "no_answer": "no answer yet"}


@click.command()
@click.option("--cohort", "cohort_id", required=True, type=int, help="Group id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def family(cohort_id: int, as_json: bool) -> None:
    """Each patient's guests for the family day: reply, access needs and question."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session:
            await cohorts.get_cohort(session, cohort_id)
            day = await family_service.family_day(
                session, runtime.content, runtime.settings.tz, cohort_id
            )
            listed = await family_service.cohort_guests(session, cohort_id)
            return {
                "cohort_id": cohort_id,
                "family_day": day.on_date.isoformat() if day else None,
                "patients": [
                    {
                        "reference": reference(person),
                        "guests": [
                            {
                                "first_name": guest.first_name,
                                "status": family_service.status(guest),
                                "access_needs": guest.access_needs,
                                "question": guest.question,
                            }
                            for guest in guests
                        ],
                    }
                    for person, guests in listed
                ],
            }

    try:
        data = common.with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    common.emit(data, as_json, "\n".join(_lines(data)))


def _lines(data: dict[str, Any]) -> list[str]:
    """A text table: one line per guest (or per patient without guests)."""
    guests = [g for patient in data["patients"] for g in patient["guests"]]
    coming = sum(g["status"] == "coming" for g in guests)
    when = common.day(data["family_day"]) if data["family_day"] else "no date set"
    lines = [
        f"Friends and family day for group {data['cohort_id']}: {when}."
        f" {coming} coming, {len(guests)} invited."
    ]
    if not data["patients"]:
        return [*lines, "No patients in this group yet."]
    lines.append(f"{'patient':<8} {'guest':<16} {'reply':<14} {'access needs':<30} question")
    for patient in data["patients"]:
        if not patient["guests"]:
            lines.append(f"{patient['reference']:<8} (nobody invited)")
        for guest in patient["guests"]:
            if guest["status"] == "not_opened":
                lines.append(f"{patient['reference']:<8} (link not opened yet)")
                continue
            lines.append(
                f"{patient['reference']:<8} {guest['first_name'] or '-':<16}"
                f" {REPLIES[guest['status']]:<14} {_one_line(guest['access_needs']):<30}"
                f" {_one_line(guest['question'])}"
            )
    return lines


def _one_line(text: str | None) -> str:
    """Free text on one table line."""
    return " ".join(text.split()) if text else "-"
