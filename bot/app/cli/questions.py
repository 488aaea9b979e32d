"""`pmp questions`: the doctor's list of a group's questions, and marking them answered."""

from __future__ import annotations

from typing import Any

import click

from bot.app.cli import common
from bot.app.runtime import Runtime
from bot.services import cohorts, questions
from bot.services.cohorts import CohortError
from bot.services.planner import Planner

# An id the database's integer column can hold: anything larger is a typing mistake.
ID = click.IntRange(1, 2**31 - 1)


@click.group("questions", invoke_without_command=True)
@click.option("--cohort", "cohort_id", type=ID, default=None, help="Group id.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of Markdown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--late", is_flag=True, help="Questions sent after the deadline, for the team.")
@click.pass_context
def questions_command(
    context: click.Context, cohort_id: int | None, as_csv: bool, as_json: bool, late: bool
) -> None:
    """A group's questions for the doctor (Markdown; --csv, --json), near-duplicates together.

    Names appear only where the patient allowed it; the rest say "Anonymous".
    """
    if context.invoked_subcommand is not None:
        return
    if cohort_id is None:
        raise click.UsageError("Give --cohort with the group's id.")
    if as_csv and as_json:
        raise click.UsageError("Choose one of --csv and --json.")

    async def work(runtime: Runtime) -> tuple[str, list[dict[str, Any]]]:
        tz = runtime.settings.tz
        async with runtime.sessions() as session, session.begin():
            cohort = await cohorts.get_cohort(session, cohort_id)
            listed = await questions.doctor_list(session, cohort_id, late=late)
            times = Planner.of(runtime.content, runtime.settings).times
            window = await questions.window_of(session, runtime.content, cohort, times, tz)
            if as_csv:
                text = questions.as_csv(listed, tz)
            else:
                text = questions.as_markdown(runtime.content, cohort, window, listed, late)
            return text, [item.to_json(tz) for item in listed]

    try:
        text, data = common.with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        common.emit(data, True, "")
    else:
        click.echo(text, nl=False)


@questions_command.command("answered")
@click.option("--cohort", "cohort_id", type=ID, required=True, help="Group id.")
@click.option("--id", "question_ids", type=ID, multiple=True, help="A question's id (repeat).")
@click.option("--all", "every", is_flag=True, help="Every open question of the group.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def questions_answered(
    cohort_id: int, question_ids: tuple[int, ...], every: bool, as_json: bool
) -> None:
    """After the session: mark questions answered; each patient is told once (not at night)."""
    if bool(question_ids) == every:
        raise click.UsageError("Give --id (one or more) or --all.")

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session, session.begin():
            await cohorts.get_cohort(session, cohort_id)
            done = await questions.mark_answered(
                session,
                runtime.content,
                runtime.settings.tz,
                cohort_id,
                None if every else question_ids,
                runtime.clock.now(),
            )
            return {
                "cohort_id": cohort_id,
                "marked": done.marked,
                "patients_told": done.patients_told,
                "not_open": list(done.not_found),
            }

    try:
        data = common.with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    lines = [
        f"Group {cohort_id}: {data['marked']} question(s) marked answered;"
        f" {data['patients_told']} patient(s) will be told."
    ]
    if data["not_open"]:
        ids = ", ".join(f"#{n}" for n in data["not_open"])
        lines.append(
            f"  Not changed (not an open question of this group, or answered already): {ids}"
        )
    common.emit(data, as_json, "\n".join(lines))
