"""Staff accounts and the audit log: admins only, checked on every request."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import MAX_ID
from bot.app.web.security import Visit, first_send, problem, redirect, staff_page
from bot.db.models import AuditEvent, StaffAccount
from bot.numbers import whole_number
from bot.services import staff_accounts, staff_sessions
from bot.services.staff_accounts import ROLES, AccountError

AUDIT_PAGE = 300


async def _accounts(visit: Visit) -> list[StaffAccount]:
    return list(await visit.db.scalars(select(StaffAccount).order_by(StaffAccount.name)))


async def _page(request: Request, visit: Visit, status: int = 200, **variables: object) -> Response:
    variables.setdefault("errors", {})
    variables.setdefault("typed", {})
    variables.setdefault("notice", request.query_params.get("done", ""))
    return visit.page(
        request,
        "staff",
        status=status,
        accounts=await _accounts(visit),
        roles=ROLES,
        entra=visit.console.settings.entra_configured,
        **variables,
    )


@staff_page("admin")
async def index(request: Request, visit: Visit) -> Response:
    """Every account, and the form to add one."""
    return await _page(request, visit)


@staff_page("admin")
async def add(request: Request, visit: Visit) -> Response:
    """Add an account with a first password the admin passes on."""
    typed = {key: str(visit.form.get(key) or "") for key in ("email", "name", "role")}
    password = str(visit.form.get("password") or "")
    errors: dict[str, str] = {}
    if staff_accounts.clean_email(typed["email"]) is None:
        errors["email"] = "Enter an email address, like name@nhs.net."
    if not " ".join(typed["name"].split()) or len(typed["name"]) > 80:
        errors["name"] = "Enter their name (up to 80 characters)."
    if typed["role"] not in ROLES:
        errors["role"] = "Choose clinician or admin."
    microsoft = visit.console.settings.entra_configured and visit.form.get("microsoft") == "yes"
    if microsoft:
        password = ""
    elif not staff_accounts.MIN_PASSWORD <= len(password) <= staff_accounts.MAX_PASSWORD:
        errors["password"] = (
            f"The first password must be at least {staff_accounts.MIN_PASSWORD} characters."
        )
    if errors:
        return await _page(request, visit, 400, errors=errors, typed=typed)
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    now = visit.console.clock.now()
    try:
        account = await staff_accounts.add_account(
            visit.db, typed["email"], typed["name"], typed["role"], password or None, now
        )
    except AccountError as error:
        await visit.db.delete(use)  # not used up: the admin may correct and send it again
        return await _page(request, visit, 400, errors={"email": str(error)}, typed=typed)
    staff_accounts.audit(
        visit.db,
        visit.account,
        "account_added",
        now,
        f"account:{account.id}",
        f"role {account.role}",
    )
    use.result_path = "/staff?done=added"
    return redirect(use.result_path)


async def _target(request: Request, visit: Visit) -> StaffAccount | None:
    value = request.path_params["account_id"]
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return await visit.db.get(StaffAccount, value, with_for_update=True)


async def _last_admin(visit: Visit, account: StaffAccount) -> bool:
    """Whether this change would leave nobody able to manage accounts."""
    return account.role == "admin" and await staff_accounts.admins_left(visit.db, account.id) == 0


@staff_page("admin")
async def change(request: Request, visit: Visit) -> Response:
    """Change an account's role, or disable or enable it; its sessions end at once."""
    account = await _target(request, visit)
    if account is None:
        return problem(visit.console, request, 404, "gone")
    action = str(visit.form.get("action") or "")
    now = visit.console.clock.now()
    if action == "role":
        role = str(visit.form.get("role") or "")
        if role not in ROLES:
            return await _page(request, visit, 400, notice="bad_role")
        if role != "admin" and await _last_admin(visit, account):
            return await _page(request, visit, 400, notice="last_admin")
        if account.role != role:
            account.role = role
            await staff_sessions.end_all(visit.db, account.id)
            staff_accounts.audit(
                visit.db, visit.account, "role_changed", now, f"account:{account.id}", f"now {role}"
            )
        return redirect("/staff?done=role")
    if action == "disable":
        if account.id == visit.account.id:
            return await _page(request, visit, 400, notice="not_yourself")
        if await _last_admin(visit, account):
            return await _page(request, visit, 400, notice="last_admin")
        if account.disabled_at is None:
            account.disabled_at = now
            await staff_sessions.end_all(visit.db, account.id)
            staff_accounts.audit(
                visit.db, visit.account, "account_disabled", now, f"account:{account.id}"
            )
        return redirect("/staff?done=disabled")
    if action == "microsoft":
        # Their password stops working; their next Microsoft sign-in links this account.
        if account.password_hash is not None:
            account.password_hash = None
            await staff_sessions.end_all(visit.db, account.id)
            staff_accounts.audit(
                visit.db, visit.account, "switched_to_entra", now, f"account:{account.id}"
            )
        return redirect("/staff?done=microsoft")
    if action == "telegram":
        # Links their Telegram account to this one: the audit trails then name one person.
        typed = str(visit.form.get("telegram_user_id") or "").strip()
        telegram_id = whole_number(typed) if typed else None
        if typed and telegram_id is None:
            return await _page(request, visit, 400, notice="bad_telegram")
        account.telegram_user_id = str(telegram_id) if telegram_id is not None else None
        staff_accounts.audit(
            visit.db,
            visit.account,
            "telegram_linked" if telegram_id else "telegram_unlinked",
            now,
            f"account:{account.id}",
        )
        return redirect("/staff?done=telegram")
    if action == "enable":
        if account.disabled_at is not None:
            account.disabled_at = None
            staff_accounts.audit(
                visit.db, visit.account, "account_enabled", now, f"account:{account.id}"
            )
        return redirect("/staff?done=enabled")
    return problem(visit.console, request, 400, "not_found")


@staff_page("admin")
async def audit_log(request: Request, visit: Visit) -> Response:
    """The newest lines of the audit log: sign-ins, views of patients' details, changes."""
    rows = (
        await visit.db.execute(
            select(AuditEvent, StaffAccount.name, StaffAccount.email)
            .outerjoin(StaffAccount, StaffAccount.id == AuditEvent.account_id)
            .order_by(AuditEvent.id.desc())
            .limit(AUDIT_PAGE)
        )
    ).all()
    return visit.page(request, "audit", rows=rows, limit=AUDIT_PAGE)


routes = [
    Route("/staff", index, methods=["GET"]),
    Route("/staff", add, methods=["POST"]),
    Route("/staff/{account_id:int}", change, methods=["POST"]),
    Route("/audit", audit_log, methods=["GET"]),
]
