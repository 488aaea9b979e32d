"""`pmp staff`: console accounts from the command line (the first admin is made here)."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from bot.app.cli import common
from bot.app.runtime import Runtime
from bot.db.models import StaffAccount
from bot.services import staff_accounts, staff_sessions
from bot.services.staff_accounts import ROLES, AccountError


@click.group()
def staff() -> None:
    """Staff accounts of the web console: add, list, disable."""


def _password(from_stdin: bool) -> str:
    """The password from standard input (one line), or asked for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@staff.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The name colleagues know them by.")
@click.option("--role", type=click.Choice(ROLES), default="clinician", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
def staff_add(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add a console account that signs in with EMAIL and a password (12 characters or more)."""
    password = _password(password_stdin)

    async def work(runtime: Runtime) -> str:
        async with runtime.sessions() as session, session.begin():
            # Typed by the person at the server: theirs, not one to change at first sign-in.
            account = await staff_accounts.add_account(
                session, email, name, role, password, runtime.clock.now(), chosen_by_them=True
            )
            staff_accounts.audit(
                session,
                None,
                "account_added",
                runtime.clock.now(),
                f"account:{account.id}",
                f"role {role}, from the command line",
            )
            return account.email

    try:
        added = common.with_runtime(work)
    except AccountError as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"Added {added} ({role}). They can sign in to the console now.")


@staff.command("list")
def staff_list() -> None:
    """Every account: email, role, and whether it is disabled."""

    async def work(runtime: Runtime) -> list[StaffAccount]:
        async with runtime.sessions() as session:
            return list(await session.scalars(select(StaffAccount).order_by(StaffAccount.email)))

    accounts = common.with_runtime(work)
    for account in accounts:
        state = "disabled" if account.disabled_at else "active"
        click.echo(f"{account.email:<40} {account.role:<10} {state:<9} {account.name}")
    if not accounts:
        click.echo(
            "No accounts yet. Add the first admin with: pmp staff add EMAIL --name NAME "
            "--role admin"
        )


@staff.command("disable")
@click.argument("email")
def staff_disable(email: str) -> None:
    """Disable an account: it is signed out everywhere and cannot sign in."""

    async def work(runtime: Runtime) -> bool:
        async with runtime.sessions() as session, session.begin():
            clean = staff_accounts.clean_email(email) or ""
            account = await session.scalar(select(StaffAccount).where(StaffAccount.email == clean))
            if account is None:
                return False
            account.disabled_at = account.disabled_at or runtime.clock.now()
            await staff_sessions.end_all(session, account.id)
            staff_accounts.audit(
                session,
                None,
                "account_disabled",
                runtime.clock.now(),
                f"account:{account.id}",
                "from the command line",
            )
            return True

    if not common.with_runtime(work):
        raise click.UsageError(f"There is no account {email}.")
    click.echo(f"Disabled {email}. They are signed out.")
