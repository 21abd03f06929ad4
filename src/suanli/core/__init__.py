"""The scheduler core: pure, no I/O, time only from an injected clock."""
