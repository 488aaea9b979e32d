"""Staff alerts sent outside Telegram."""
