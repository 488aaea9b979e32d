"""Channel adapters: they turn transport updates into neutral events and send neutral replies."""
