"""The staff web console: Starlette pages over the same services as the bot."""
