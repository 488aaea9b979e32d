"""The composition root: turns, runtime, channel adapters, the demo and the command line."""
