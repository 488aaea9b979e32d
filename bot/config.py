"""Settings read from the environment and `.env`, shared by the bot and the `pmp` command line."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The folder PMP Companion is installed in (the install is editable): `.env` and the SQLite
# database are found there wherever `pmp` is started, never quietly made afresh elsewhere.
HOME = Path(__file__).resolve().parent.parent
_SQLITE = "sqlite+aiosqlite:///"
DEFAULT_SQLITE_URL = f"{_SQLITE}{HOME / 'data' / 'pmp.db'}"
# Where Microsoft's Bot Connector service lives: Teams in the public cloud and GCC, and the
# Bot Framework's own channels.
TEAMS_SERVICE_HOSTS = (
    "smba.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
    "botframework.com",
)


def _parse_id_list(value: object) -> object:
    """Accept "1,2, 3" from the environment as well as a list."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of PMP Companion; `.env.example` documents each one."""

    # The installed folder's `.env`, then one in the folder `pmp` starts in (which wins).
    model_config = SettingsConfigDict(
        env_file=(HOME / ".env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        # `NAME=` with nothing after it (as in .env.example) leaves the default.
        env_ignore_empty=True,
    )

    telegram_bot_token: str = Field(default="", repr=False)
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_bot_username: str = ""
    telegram_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    # Unset: the webhook is served by the console's web server (WEB_LISTEN, WEB_PORT). Set
    # (as before the console existed), it gets a server of its own on this address and port.
    webhook_listen: str | None = None
    webhook_port: int | None = Field(default=None, ge=1, le=65535)
    webhook_path: str = "/telegram"
    webhook_secret_token: str = Field(default="", repr=False, pattern=r"^[A-Za-z0-9_-]{0,256}$")

    database_url: str = DEFAULT_SQLITE_URL
    timezone: str = "Europe/London"

    staff_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    staff_chat_id: int | None = None
    # Leads get unacknowledged alerts privately as well as in the group.
    staff_lead_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # A Power Automate Workflows webhook posting alerts to a Teams channel (its URL is a secret).
    teams_webhook_url: str = Field(default="", repr=False)
    # The Teams bot (Microsoft 365 Agents SDK): staff act on alerts in a channel, patients chat
    # in a personal chat. Off while TEAMS_APP_ID is empty and anonymous mode is off.
    teams_app_id: str = ""
    teams_app_password: str = Field(default="", repr=False)
    # Instead of a password: a certificate (.pfx with its private key) on the app registration.
    teams_certificate_file: str = ""
    teams_tenant_id: str = ""
    # The staff channel's conversation id ("19:...@thread.tacv2"); its service URL is learnt
    # from the first activity the bot receives there (its installation).
    teams_staff_conversation_id: str = ""
    # Entra object ids of staff who may act on alerts in Teams but have no console account.
    staff_teams_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # For local testing with the Agents Playground only: no token is asked of callers, and
    # the bot calls back only to loopback addresses. Refused while TEAMS_APP_ID is set.
    teams_allow_anonymous: bool = False
    # Hosts the bot may call back, with their sub-domains (a forged activity cannot name
    # another). The default is Microsoft's Bot Connector hosts.
    teams_service_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(TEAMS_SERVICE_HOSTS)
    )

    # The clinic's own contact details, shown in /help, after "Can't make it", in the reply to
    # a report out of hours and in the discharge message. Texts read well without them.
    clinic_name: str = Field(default="the Pain Management Programme", max_length=100)
    clinic_phone: str = Field(default="", max_length=40)
    clinic_hours: str = Field(default="", max_length=100)

    # When the team reads messages: ISO weekdays (1 = Monday), England bank holidays excepted.
    working_hours_start: str = Field(default="09:00", pattern=r"^\d{2}:\d{2}$")
    working_hours_end: str = Field(default="17:00", pattern=r"^\d{2}:\d{2}$")
    working_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    # Minutes an alert may go unacknowledged before it is sent again: working minutes for
    # ordinary alerts, minutes at any hour for urgent and risk alerts.
    escalation_ack_minutes: int = Field(default=15, ge=1)
    escalation_urgent_ack_minutes: int = Field(default=5, ge=1)
    # A report left unfinished this long still reaches staff if it is serious.
    report_unfinished_minutes: int = Field(default=10, ge=1)

    # The risk lexicon to screen with (content/safety/risk_lexicon.toml when empty): for
    # clinicians trying a change. The bot will not start with a broken one.
    risk_lexicon_path: str = ""

    # Questions for the doctor: invited this many days before the session, closed this many
    # hours before it.
    questions_open_days: int = Field(default=5, ge=1, le=30)
    questions_deadline_hours: int = Field(default=24, ge=1, le=24 * 7)
    # Friends-and-family day: guests per patient, and days their details are kept after it.
    family_max_guests: int = Field(default=3, ge=0, le=10)
    family_keep_days: int = Field(default=30, ge=1, le=365)

    # The staff web console (and, in webhook mode, the Telegram webhook beside it).
    web_listen: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    # Mark the session cookie Secure (sent over HTTPS only): "auto" does so unless the console
    # is served on a loopback address, where a browser on the same machine uses plain HTTP.
    web_secure_cookies: Literal["auto", "true", "false"] = "auto"
    # Sessions end after this long without a request, and this long after signing in.
    web_idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    web_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    # Sign-in is refused for a while after this many failures for one email address, or many
    # more from one network address.
    web_lockout_failures: int = Field(default=5, ge=1, le=100)
    web_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Microsoft Entra ID (OpenID Connect); local accounts only while these are empty.
    entra_tenant_id: str = ""
    entra_client_id: str = ""
    entra_client_secret: str = Field(default="", repr=False)
    # Where Entra ID lives (changed only for a sovereign cloud, or a test's stand-in).
    entra_authority: str = "https://login.microsoftonline.com"
    # The console's address as browsers reach it (https://pmp.trust.nhs.uk), for the address
    # Entra ID sends people back to; empty: the address the request came to.
    web_public_url: str = ""

    telegram_max_messages_per_second: float = Field(default=25, ge=0)
    invite_valid_days: int = Field(default=14, ge=1, le=365)
    log_level: str = "INFO"

    _split_ids = field_validator(
        "staff_telegram_ids", "staff_lead_telegram_ids", "working_days", mode="before"
    )(_parse_id_list)

    @field_validator("staff_teams_ids", "teams_service_hosts", mode="before")
    @classmethod
    def _split_words(cls, value: object) -> object:
        """A comma- or space-separated list, as the other id lists are written."""
        if isinstance(value, str):
            return [part.strip().lower() for part in re.split(r"[,\s]+", value) if part.strip()]
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        """ISO weekdays only, so a typo cannot leave the team with no working day."""
        if not value or any(day not in range(1, 8) for day in value):
            raise ValueError("WORKING_DAYS takes ISO weekdays 1 (Monday) to 7 (Sunday)")
        return value

    @field_validator("database_url")
    @classmethod
    def _anchored_sqlite(cls, value: str) -> str:
        """A relative SQLite path (`sqlite+aiosqlite:///data/pmp.db`) is taken from the
        installed folder, not from wherever `pmp` happens to start."""
        if value.startswith(_SQLITE):
            path = value.removeprefix(_SQLITE)
            if path and path != ":memory:" and not Path(path).is_absolute():
                return f"{_SQLITE}{HOME / path}"
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        """Fail at start, not at the first reminder, when the zone name is wrong."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _questions_open_before_they_close(self) -> Settings:
        """Questions for the doctor must open before they close."""
        if self.questions_deadline_hours >= self.questions_open_days * 24:
            raise ValueError(
                "QUESTIONS_DEADLINE_HOURS must be shorter than QUESTIONS_OPEN_DAYS in hours"
            )
        return self

    @model_validator(mode="after")
    def _webhook_needs_address_and_secret(self) -> Settings:
        """Refuse to start a webhook nobody can reach, or one anyone could post to."""
        if self.telegram_mode == "webhook":
            if not self.webhook_url.startswith(("https://", "http://")):
                raise ValueError("TELEGRAM_MODE=webhook needs WEBHOOK_URL (the public address)")
            if not self.webhook_secret_token:
                raise ValueError("TELEGRAM_MODE=webhook needs WEBHOOK_SECRET_TOKEN")
        return self

    @model_validator(mode="after")
    def _leads_are_staff(self) -> Settings:
        """A lead who is not on the staff list would get alerts whose buttons refuse them."""
        strangers = set(self.staff_lead_telegram_ids) - set(self.staff_telegram_ids)
        if strangers:
            raise ValueError("every STAFF_LEAD_TELEGRAM_IDS id must also be in STAFF_TELEGRAM_IDS")
        return self

    @model_validator(mode="after")
    def _teams_anonymous_only_for_testing(self) -> Settings:
        """Anonymous mode accepts activities from anyone: never beside a real bot's identity."""
        if self.teams_allow_anonymous and self.teams_app_id:
            raise ValueError(
                "TEAMS_ALLOW_ANONYMOUS=true is for local testing only: unset TEAMS_APP_ID, "
                "or turn anonymous mode off"
            )
        if self.teams_allow_anonymous and self.web_listen not in ("127.0.0.1", "localhost", "::1"):
            # Without tokens, anyone who can reach /api/messages could act as anyone.
            raise ValueError(
                "TEAMS_ALLOW_ANONYMOUS=true needs WEB_LISTEN on this machine only (127.0.0.1)"
            )
        credential = self.teams_app_password or self.teams_certificate_file
        if self.teams_app_id and not (credential and self.teams_tenant_id):
            raise ValueError(
                "TEAMS_APP_ID needs TEAMS_TENANT_ID, and TEAMS_APP_PASSWORD or "
                "TEAMS_CERTIFICATE_FILE"
            )
        return self

    @property
    def teams_enabled(self) -> bool:
        """Whether the Teams bot endpoint is served."""
        return bool(self.teams_app_id) or self.teams_allow_anonymous

    def teams_staff_chats(self) -> dict[str, str]:
        """Where Teams staff alerts go: the staff channel, if one is set."""
        chat = self.teams_staff_conversation_id
        return {"msteams": chat} if chat and self.teams_enabled else {}

    def staff_chats(self) -> dict[str, str]:
        """Every staff chat the bot posts alerts to, by channel."""
        return {**self.telegram_staff_chats(), **self.teams_staff_chats()}

    @property
    def entra_configured(self) -> bool:
        """Whether staff may sign in with Microsoft Entra ID."""
        return bool(self.entra_tenant_id and self.entra_client_id and self.entra_client_secret)

    @property
    def webhook_apart(self) -> bool:
        """Whether the webhook has a server of its own rather than the console's."""
        return self.webhook_port is not None

    def secure_cookies(self, scheme: str) -> bool:
        """Whether the console's cookies are sent over HTTPS only, for a request that came by
        `scheme` (as the HTTPS proxy in front says, in X-Forwarded-Proto)."""
        if self.web_secure_cookies == "auto":
            return (
                scheme == "https"
                or self.web_public_url.startswith("https://")
                or self.web_listen not in ("127.0.0.1", "localhost", "::1")
            )
        return self.web_secure_cookies == "true"

    @cached_property
    def tz(self) -> ZoneInfo:
        """The programme's local time zone."""
        return ZoneInfo(self.timezone)

    def telegram_staff_chats(self) -> dict[str, str]:
        """Where Telegram staff messages go: the staff group, if one is set."""
        return {"telegram": str(self.staff_chat_id)} if self.staff_chat_id else {}

    def is_staff(self, telegram_user_id: int) -> bool:
        """Whether a Telegram user is on the configured staff list."""
        # Telegram shows anonymous group admins as this id: never staff, whatever the list says.
        return (
            telegram_user_id != ANONYMOUS_ADMIN_ID and telegram_user_id in self.staff_telegram_ids
        )


ANONYMOUS_ADMIN_ID = 1087968824
