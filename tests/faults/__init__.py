"""Fault tests: the real bot process, a real database and the Bot API emulator, under faults
(kill -9, SIGTERM, database outages, a replica killed). See docs/reliability.md."""
