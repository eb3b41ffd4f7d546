"""Benchmark 4: due reminders sent through an emulator that enforces Telegram's limits.

The database holds ``count`` reminders, all already due, for ``users`` managers (several per
manager, of the kinds the bot schedules: a next step, a to-do, a nudge, a review with its
follow-up question). Our bot starts exactly as in production (``python -m bot.cli run``:
its rate limiter on, the dispatcher ticking every 5 s) while the emulator answers 429 beyond
30 messages/s overall and 1 message/s per chat. Measured: the rate messages went out at, the
429s received, whether each reminder arrived exactly once, and the CPU per reminder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from bench.bots import OURS, BotSpec, start_bot, wait_started
from bench.checklist import walk
from bench.emulator import BenchEmulator, quiet

Metrics = dict[str, float]
FIRST_USER = 7_000_000
#: Telegram's published limits, as the emulator enforces them.
GLOBAL_PER_S = 30
PER_CHAT_PER_S = 1


async def seed(database_url: str, count: int, users: int) -> None:
    """Create ``users`` managers mid-checklist and ``count`` due reminders spread over them."""
    from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
    from bot.storage.base import AnswerWrite
    from bot.storage.database import sqlite_storage
    from bot.storage.factory import open_storage

    dialogue = load_dialogue(DEFAULT_DIR)
    snapshot = walk()[1][12]  # twelve answers: the partner's name is known
    steps = [rule.id for rule in dialogue.next_steps]
    kinds: list[tuple[str, str, dict[str, Any]]] = [
        ("next_step", steps[0], {"step": steps[0]}),
        ("todo", "posture", {"question": "posture"}),
        ("nudge", "nudge-1", {}),
        ("review", "review-1", {"number": 1}),
    ]
    if database_url.startswith("sqlite:///"):
        storage: Any = sqlite_storage(database_url[len("sqlite:///") :], synchronous="NORMAL")
    else:
        storage = open_storage(database_url)
    try:
        await storage.migrate()
        now = dt.datetime.now(dt.UTC)
        conversations = []
        for index in range(users):
            user, _, conversation, _ = await storage.open_user(
                f"tg:{FIRST_USER + index}",
                lang="fr",
                tz="UTC",
                dialogue_id=dialogue.id,
                state=snapshot.state,
            )
            await storage.save_step(
                conversation.id,
                expected_version=conversation.version,
                state=snapshot.state,
                answers=[AnswerWrite(qid, value) for qid, value in snapshot.answers],
            )
            conversations.append((user.id, conversation.id))
        for number in range(count):
            user_id, conversation_id = conversations[number % users]
            kind, ref, payload = kinds[(number // users) % len(kinds)]
            if number >= users * len(kinds):
                ref = f"{ref}-{number}"
            await storage.add_reminder(
                user_id,
                kind=kind,
                ref=ref,
                due_at=now - dt.timedelta(minutes=5) + dt.timedelta(milliseconds=number),
                payload=payload,
                conversation_id=conversation_id,
            )
    finally:
        await storage.close()


def _reminder_id(markup: Any) -> int | None:
    """The reminder a sent message is about: every reminder message carries its id in its
    buttons (r|<id>|... or f|<id>|...)."""
    if not isinstance(markup, dict):
        return None
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = str(button.get("callback_data", ""))
            kind, _, rest = data.partition("|")
            if kind in ("r", "f"):
                return int(rest.split("|")[0])
    return None


async def run_reminders(
    count: int,
    users: int,
    workdir: Path,
    database_url: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 (a stuck delivery must end the run)
) -> Metrics:
    """One run: seed, start the bot, wait until every reminder arrived (or ``timeout``)."""
    os.makedirs(workdir, exist_ok=True)
    await seed(database_url, count, users)
    async with BenchEmulator() as emulator:
        emulator.enforce_rate_limits(GLOBAL_PER_S, PER_CHAT_PER_S)
        emulator.sent = []
        process = start_bot(
            BotSpec(OURS, "sqlite", rate_limiter=True), emulator, workdir, database_url
        )
        async with process.running():
            startup = await wait_started(process, emulator)
            cpu = process.cpu_seconds()
            limit = time.monotonic() + (timeout or count / 20 + 60)
            delivered: set[int] = set()
            while len(delivered) < count and time.monotonic() < limit:
                process.check_alive()
                await asyncio.sleep(0.05)
                delivered = {i for _, _, m in emulator.sent if (i := _reminder_id(m)) is not None}
            await quiet(emulator, 0.5)
            cpu = process.cpu_seconds() - cpu
    sends = [(t, chat, _reminder_id(m)) for t, chat, m in emulator.sent]
    reminder_sends = [s for s in sends if s[2] is not None]
    ids = [s[2] for s in reminder_sends]
    times = sorted(t for t, _, _ in reminder_sends)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    per_chat_gaps = _min_gap_per_chat(reminder_sends)
    pending = await _pending_left(database_url)
    return {
        "reminders": count,
        "delivered": len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "missing": count - len(set(ids)),
        "messages_per_s": (len(times) - 1) / span if len(times) > 1 else 0.0,
        "send_span_s": span,
        "first_send_after_start_s": times[0] - process.spawned_at if times else float("nan"),
        "startup_s": startup,
        "refused_429": emulator.refusals[429],
        "min_chat_gap_s": per_chat_gaps,
        "cpu_ms_per_reminder": 1000 * cpu / max(len(ids), 1),
        "still_pending": pending,
    }


def _min_gap_per_chat(sends: list[tuple[float, int, int | None]]) -> float:
    last: dict[int, float] = {}
    gap = float("inf")
    for moment, chat, _ in sorted(sends):
        if chat in last:
            gap = min(gap, moment - last[chat])
        last[chat] = moment
    return gap if gap != float("inf") else float("nan")


async def _pending_left(database_url: str) -> int:
    """Reminders still pending once the run is over (each one sent is marked sent)."""
    from bot.storage.factory import open_storage

    storage = open_storage(database_url)
    try:
        return len(await storage.all_pending(limit=1_000_000))
    finally:
        await storage.close()
