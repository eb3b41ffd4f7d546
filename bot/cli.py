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
        handler = {"run": _run, "chat": _chat, "validate": _validate, "graph": _graph}[
            args.command
        ]
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
        )
        return chat.run()
    finally:
        storage.close()


def _read_stdin_line() -> str | None:
    line = sys.stdin.readline()
    return line if line else None


if __name__ == "__main__":
    sys.exit(main())
