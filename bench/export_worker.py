"""Benchmark 6, in its own process: the time each export takes for a finished checklist.

``python -m bench.export_worker DATABASE_FILE REPEATS`` answers the whole checklist for one
manager (the bench policy, through the bot's Conversations service), schedules the reminders
the bot offers (so the calendar has events), then makes each export the way /export does and
prints JSON: per format, the first call in this process (``cold``: lazy imports included, as
after a restart) and the following ``REPEATS`` calls (``warm``), in milliseconds, and the size.
The summary's charts (sent on Telegram after the summary) are timed the same way.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def _finished_manager(path: str) -> tuple[Any, Any, Any, Any]:
    from bench.checklist import button_value, is_typed, plan, real_dialogue, typed_answer
    from bot.conversations import Conversations
    from bot.dialogue.engine import Engine, Pick, Text
    from bot.reminders import flow
    from bot.reminders.service import Reminders
    from bot.storage.sqlite import SqliteStorage

    dialogue = real_dialogue()
    engine = Engine(dialogue)
    storage = SqliteStorage(path, synchronous="NORMAL")
    storage.migrate()
    conversations = Conversations(storage, engine, default_lang="fr", default_tz="Europe/Paris")
    session = conversations.open("tg:4242", lang="fr")
    for planned in plan():
        question = dialogue.questions[planned.id]
        if is_typed(question):
            conversations.handle(session, Text(typed_answer(question)))
        elif question.type == "multi":
            conversations.handle(session, Pick(question.id, button_value(question, False)))
            conversations.handle(session, Pick(question.id, button_value(question, True)))
        else:
            conversations.handle(session, Pick(question.id, button_value(question, False)))
    if session.state.at != "done":
        raise RuntimeError(f"the checklist did not finish: at {session.state.at}")
    reminders = Reminders(storage, engine, hour=9)
    reminders.handle(session, flow.Finished())
    reminders.handle(session, flow.OfferChoice("all"))
    reminders.handle(session, flow.PreparationChoice(True))
    return storage, engine, session, reminders


def main(path: str, repeats: int) -> dict[str, Any]:
    from bot.export import FORMATS, export, report_content

    storage, engine, session, reminders = _finished_manager(path)

    def make(fmt: str) -> int:
        _, data = export(
            fmt,
            storage=storage,
            engine=engine,
            user=session.user,
            today=reminders.today(session.user),
            reminders=reminders.for_export(session),
        )
        return len(data)

    def charts() -> int:
        from bot.export.pictures import summary_pictures

        content = report_content(
            storage=storage,
            engine=engine,
            user=session.user,
            today=reminders.today(session.user),
        )
        return sum(len(png) for png, _ in summary_pictures(content))

    jobs: list[tuple[str, Callable[[], int]]] = [
        (fmt, functools.partial(make, fmt)) for fmt in ("json", "md", "ics", "pdf")
    ]
    jobs.append(("charts", charts))
    assert {name for name, _ in jobs} >= set(FORMATS)
    results: dict[str, Any] = {}
    for name, job in jobs:
        started = time.perf_counter()
        size = job()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            job()
            warm.append(time.perf_counter() - started)
        results[name] = {
            "cold_ms": 1000 * cold,
            "warm_ms": [1000 * w for w in warm],
            "bytes": size,
        }
    storage.close()
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
