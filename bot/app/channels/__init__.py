"""Channel adapters: Telegram, the terminal demo and the Teams alert webhook."""
