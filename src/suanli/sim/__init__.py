"""The digital twin: drives the scheduler core in virtual time."""
