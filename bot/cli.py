"""The `alliance-bot` command: run the bot, chat in a terminal, check dialogues, and more."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.config import Settings, load_settings
from bot.errors import AllianceBotError, DialogueError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliance-bot",
        description="A Telegram bot that coaches a manager through a business alliance.",
    )
    parser.add_argument("--version", action="version", version=f"alliance-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the Telegram bot (polling by default)")
    run.add_argument("--webhook", action="store_true", help="webhook mode (WEBHOOK_URL/SECRET)")

    chat = commands.add_parser("chat", help="the whole checklist in this terminal")
    chat.add_argument("--lang", choices=("fr", "en"), help="language (default: the user's)")
    chat.add_argument("--user", help="whose conversation (default: your login name)")
    chat.add_argument("--database", help="database URL (default: DATABASE_URL or the SQLite file)")

    export = commands.add_parser("export", help="a user's report, calendar or data as a file")
    export.add_argument("--user", required=True, help="Telegram user id, or a chat --user name")
    export.add_argument("--format", required=True, choices=("pdf", "md", "json", "ics"))
    export.add_argument("--out", required=True, help="the file to write")
    export.add_argument("--database", help="database URL (default: DATABASE_URL)")

    reminders = commands.add_parser("reminders", help="pending reminders, for operators")
    reminders.add_argument("--json", action="store_true", help="JSON instead of a table")
    reminders.add_argument("--database", help="database URL (default: DATABASE_URL)")

    validate = commands.add_parser("validate", help="check the dialogue files")
    validate.add_argument("path", nargs="?", help="the dialogues folder (default: DIALOGUES_DIR)")

    graph = commands.add_parser("graph", help="the dialogue's flow as a Mermaid diagram")
    graph.add_argument("--out", help="write docs/dialogue.md-style Markdown to this file")
    graph.add_argument("--path", help="the dialogues folder (default: DIALOGUES_DIR)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        handler = {
            "run": _run,
            "chat": _chat,
            "export": _export,
            "reminders": _reminders,
            "validate": _validate,
            "graph": _graph,
        }[args.command]
        return handler(args)
    except AllianceBotError as exc:
        print(f"alliance-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings() -> Settings:
    return load_settings(require_token=False)


def _run(args: argparse.Namespace) -> int:
    from bot.telegram.runner import run

    settings = load_settings()
    if args.webhook:
        settings = settings.enable_webhook()
    return run(settings)


def _export(args: argparse.Namespace) -> int:
    from bot.conversations import Conversations
    from bot.dialogue.engine import Engine
    from bot.dialogue.loader import load_dialogue
    from bot.export import export
    from bot.reminders.service import Reminders
    from bot.storage.factory import open_storage

    settings = _settings()
    engine = Engine(load_dialogue(settings.dialogues_dir))
    storage = open_storage(args.database or settings.database_url)
    try:
        storage.migrate()
        keys = [f"tg:{args.user}", f"cli:{args.user}"] if args.user.isdigit() else []
        keys.append(args.user if ":" in args.user else f"cli:{args.user}")
        user = next((u for u in map(storage.get_user, keys) if u is not None), None)
        if user is None:
            print(f"alliance-bot: no user '{args.user}' in this database", file=sys.stderr)
            return 1
        conversations = Conversations(storage, engine, default_lang=user.lang, default_tz=user.tz)
        reminders = Reminders(storage, engine, hour=settings.reminder_hour)
        session = conversations.find(user.key)
        pending = reminders.for_export(session) if session is not None else []
        _, data = export(
            args.format,
            storage=storage,
            engine=engine,
            user=user,
            today=reminders.today(user),
            reminders=pending,
        )
        Path(args.out).write_bytes(data)
        print(f"{args.out}: {len(data)} bytes")
        return 0
    finally:
        storage.close()


def _reminders(args: argparse.Namespace) -> int:
    from bot.reminders.operators import main as report
    from bot.storage.factory import open_storage

    storage = open_storage(args.database or _settings().database_url)
    try:
        storage.migrate()
        return report(args.json, storage)
    finally:
        storage.close()


def _validate(args: argparse.Namespace) -> int:
    from bot.dialogue.loader import load_dialogue

    folder = Path(args.path) if args.path else _settings().dialogues_dir
    try:
        dialogue = load_dialogue(folder)
    except DialogueError as exc:
        print(f"Invalid dialogue: {exc}", file=sys.stderr)
        return 1
    count = len(dialogue.questions)
    print(f"OK: {folder} — {len(dialogue.stages)} stages, {count} questions, languages fr and en.")
    return 0


def _graph(args: argparse.Namespace) -> int:
    from bot.dialogue.graph import dialogue_doc, mermaid
    from bot.dialogue.loader import load_dialogue

    dialogue = load_dialogue(Path(args.path) if args.path else _settings().dialogues_dir)
    if args.out:
        Path(args.out).write_text(dialogue_doc(dialogue), encoding="utf-8")
    else:
        sys.stdout.write(mermaid(dialogue))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.conversations import Conversations
    from bot.dialogue.engine import Engine
    from bot.dialogue.loader import load_dialogue
    from bot.reminders.service import Reminders
    from bot.storage.factory import open_storage
    from bot.terminal import TerminalChat

    settings = _settings()
    engine = Engine(load_dialogue(settings.dialogues_dir))
    storage = open_storage(args.database or settings.database_url)
    try:
        storage.migrate()
        conversations = Conversations(
            storage,
            engine,
            default_lang=args.lang or settings.default_language,
            default_tz=settings.default_timezone,
        )
        user = args.user or os.environ.get("USER") or getpass.getuser() or "local"
        chat = TerminalChat(
            conversations,
            f"cli:{user}",
            lang=args.lang,
            read_line=_read_stdin_line,
            out=sys.stdout,
            reminders=Reminders(storage, engine, hour=settings.reminder_hour),
        )
        # A terminal marks pasted text (bracketed paste), so a pasted block is one answer.
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if interactive:
            sys.stdout.write("\x1b[?2004h")
        try:
            return chat.run()
        finally:
            if interactive:
                sys.stdout.write("\x1b[?2004l")
    finally:
        storage.close()


def _read_stdin_line() -> str | None:
    line = sys.stdin.readline()
    return line if line else None


if __name__ == "__main__":
    sys.exit(main())
