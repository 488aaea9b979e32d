"""In-process fakes (Telegram Bot API) for end-to-end tests and benchmarks."""
