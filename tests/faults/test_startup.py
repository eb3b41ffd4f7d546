"""A bot that cannot start says why and exits with 1 (no second error hiding the first)."""

from __future__ import annotations

import socket

import pytest

from tests.faults.process import BotProcess, bot_environment, free_port


async def test_port_taken_reports_the_real_error(recording_emulator, sqlite_database, tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", port))
        taken.listen()
        bot = BotProcess(
            bot_environment(recording_emulator, sqlite_database.url, HEALTH_PORT=port),
            tmp_path / "run",
        )
        with pytest.raises(AssertionError, match="exited with 1"):
            await bot.start(recording_emulator)
    log = bot.log()
    assert "address already in use" in log
    assert "still running" not in log  # the application was stopped before shutting down
    assert "stopped cleanly" not in log
