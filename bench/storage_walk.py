"""The storage's share of an update, without Telegram: CPU per update of a whole checklist walk.

``python -m bench.storage_walk DATABASE_URL [ROUNDS]`` walks the real checklist ROUNDS times
(the bench policy, as bench/checklist.py answers it), each input handled as the bot handles an
update: one `Storage.load` (user, conversation, answers, processed-update check), then
`Conversations.handle` (the engine, then one `save_step`). It prints the CPU time per update of
the whole process (the storage's worker threads included), the wall time and the transactions
per update. Use a fresh database (for PostgreSQL, a URL whose search_path names an empty
schema).
"""

from __future__ import annotations

import asyncio
import sys
import time

import sqlalchemy

from bench import arguments
from bench.checklist import button_value, is_typed, plan, real_dialogue, typed_answer
from bot.conversations import Conversations
from bot.dialogue.engine import Engine, Input, Pick, Text
from bot.storage.factory import open_storage


async def walk(database_url: str, rounds: int) -> tuple[int, float, float, int]:
    """(updates, CPU seconds, wall seconds, transactions) of `rounds` whole walks."""
    storage = open_storage(database_url)
    await storage.migrate()
    begun = [0]

    def on_begin(_connection: object) -> None:
        begun[0] += 1

    sqlalchemy.event.listen(storage.engine, "begin", on_begin)
    transactions = 0

    dialogue = real_dialogue()
    conversations = Conversations(
        storage, Engine(dialogue), default_lang="fr", default_tz="Europe/Paris"
    )
    updates, cpu, wall = 0, 0.0, 0.0
    try:
        for walk_number in range(rounds):
            key = f"tg:{walk_number}"
            await conversations.open(key, lang="fr")
            for planned in plan():
                question = dialogue.questions[planned.id]
                inputs: list[Input]
                if is_typed(question):
                    inputs = [Text(typed_answer(question))]
                elif question.type == "multi":
                    inputs = [
                        Pick(question.id, button_value(question, False)),
                        Pick(question.id, button_value(question, True)),
                    ]
                else:
                    inputs = [Pick(question.id, button_value(question, False))]
                for event in inputs:
                    updates += 1
                    before = begun[0]
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    session = conversations.from_snapshot(await storage.load(key, updates))
                    assert session is not None
                    await conversations.handle(session, event, update_id=updates)
                    cpu += time.process_time() - cpu_start
                    wall += time.perf_counter() - wall_start
                    transactions += begun[0] - before
    finally:
        await storage.close()
    return updates, cpu, wall, transactions


def main(argv: list[str]) -> int:
    parser = arguments.parser("bench.storage_walk", __doc__)
    parser.add_argument(
        "database_url", help="sqlite:///FILE or a PostgreSQL URL, its schema empty"
    )
    parser.add_argument(
        "rounds", nargs="?", type=arguments.count, default=4, help="whole checklists walked (4)"
    )
    args = parser.parse_args(argv)
    database_url, rounds = args.database_url, args.rounds
    updates, cpu, wall, transactions = asyncio.run(walk(database_url, rounds))
    print(
        f"{updates} updates: CPU {1000 * cpu / updates:.2f} ms per update,"
        f" wall {1000 * wall / updates:.2f} ms per update,"
        f" {transactions / updates:.2f} transactions per update"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
