"""Settings parsing and the staff check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.app.runtime import open_runtime
from bot.config import ANONYMOUS_ADMIN_ID, HOME, Settings


def test_staff_ids_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_TELEGRAM_IDS", "11, 22;33")
    monkeypatch.setenv("STAFF_CHAT_ID", "-1001234")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.staff_telegram_ids == [11, 22, 33]
    assert settings.staff_chat_id == -1001234
    assert settings.is_staff(22) and not settings.is_staff(44)


def test_anonymous_group_admin_is_never_staff() -> None:
    settings = Settings(_env_file=None, staff_telegram_ids=[ANONYMOUS_ADMIN_ID])  # type: ignore[call-arg]
    assert not settings.is_staff(ANONYMOUS_ADMIN_ID)


def test_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.timezone == "Europe/London" and settings.telegram_mode == "polling"
    secret = Settings(_env_file=None, telegram_bot_token="1:SECRETX")  # type: ignore[call-arg]
    assert "SECRETX" not in repr(secret) and "SECRETX" not in str(secret)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("telegram_mode", "carrier-pigeon"),
        ("webhook_secret_token", "has space"),
    ],
)
def test_bad_settings_fail_at_start(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{field: value})  # type: ignore[call-arg]


def test_env_example_documents_every_setting() -> None:
    from pathlib import Path

    example = (Path(__file__).parent.parent / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, name


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"webhook_secret_token": "s3cret"}, "WEBHOOK_URL"),
        ({"webhook_url": "https://bot.example.org/telegram"}, "WEBHOOK_SECRET_TOKEN"),
    ],
)
def test_webhook_mode_needs_an_address_and_a_secret(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, telegram_mode="webhook", **extra)  # type: ignore[call-arg]
    ok = {"webhook_url": "https://bot.example.org/telegram", "webhook_secret_token": "s3cret"}
    assert Settings(_env_file=None, telegram_mode="webhook", **ok).telegram_mode == "webhook"  # type: ignore[call-arg]


def test_leads_must_be_on_the_staff_list() -> None:
    with pytest.raises(ValueError, match="STAFF_LEAD_TELEGRAM_IDS"):
        Settings(_env_file=None, staff_telegram_ids="5001", staff_lead_telegram_ids="5002")  # type: ignore[call-arg]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        staff_telegram_ids="5001, 5002",
        staff_lead_telegram_ids="5002",
    )
    assert settings.staff_lead_telegram_ids == [5002]


def test_questions_must_open_before_they_close() -> None:
    with pytest.raises(ValueError, match="QUESTIONS_DEADLINE_HOURS"):
        Settings(_env_file=None, questions_open_days=1, questions_deadline_hours=24)  # type: ignore[call-arg]
    settings = Settings(_env_file=None, questions_open_days=2, questions_deadline_hours=24)  # type: ignore[call-arg]
    assert (settings.questions_open_days, settings.questions_deadline_hours) == (2, 24)


async def test_the_clinic_contact_settings_reach_the_messages(settings: Settings) -> None:
    chosen = settings.model_copy(
        update={"clinic_name": "the PMP office", "clinic_phone": "01223 216993"}
    )
    runtime = await open_runtime(chosen, migrate=False)
    try:
        text = runtime.content.render("common/help", is_patient=True)
        assert "call the PMP office on 01223 216993." in text
    finally:
        await runtime.close()


def test_pmp_started_outside_its_folder_uses_the_installed_database_and_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # an operator in another folder
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == f"sqlite+aiosqlite:///{HOME / 'data' / 'pmp.db'}"
    relative = Settings(_env_file=None, database_url="sqlite+aiosqlite:///data/other.db")  # type: ignore[call-arg]
    assert relative.database_url == f"sqlite+aiosqlite:///{HOME / 'data' / 'other.db'}"
    absolute = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert Settings(_env_file=None, database_url=absolute).database_url == absolute  # type: ignore[call-arg]
    assert Settings.model_config["env_file"] == (HOME / ".env", ".env")
    assert not (tmp_path / "data").exists()  # nothing made where it was started


def test_the_example_file_as_it_is_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newcomer who copies .env.example to .env unchanged must not meet a parsing error."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    example = Path(__file__).parent.parent / ".env.example"
    settings = Settings(_env_file=example)  # type: ignore[call-arg]
    assert settings.staff_chat_id is None and settings.webhook_port is None
    assert not settings.webhook_apart and settings.web_port == 8080
