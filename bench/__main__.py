"""``python -m bench``: run the benchmarks, print the tables and ratios (BENCHMARKS.md).

    python -m bench                 # the full run (make bench): 3 rounds, under 10 minutes
    python -m bench --quick         # one small round (make bench-quick): under a minute
    python -m bench --only update   # some benchmarks only: update, scale, reminders, export
    python -m bench profile         # where the CPU of an update goes (cProfile), ours and usual

Tables go to stdout and to bench/results/<time>.md (and .json with every run's figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

# The bots inherit it: PTB 22 warns on every RetryAfter unless time periods are timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bench.procs import ROOT
from bench.suite import Settings, render, run_suite, save

RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ("update", "scale", "reminders", "export", "transport")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("run", "profile"), default="run")
    parser.add_argument("--quick", action="store_true", help="one small round (smoke run)")
    parser.add_argument("--runs", type=int, help="rounds (default 3, quick 1)")
    parser.add_argument("--managers", type=int, help="managers walking the checklist per run")
    parser.add_argument("--only", help=f"comma-separated, among {','.join(BENCHMARKS)}")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--stored", type=int, help="stored conversations (scale)")
    parser.add_argument("--reminders", type=int, help="due reminders")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to save the tables")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.quick() if args.quick else Settings()
    changes: dict[str, object] = {}
    if args.runs:
        changes["runs"] = args.runs
    if args.managers:
        changes["load"] = dataclasses.replace(settings.load, managers=args.managers)
    if args.only:
        chosen = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = set(chosen) - set(BENCHMARKS)
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        changes["only"] = chosen
    if args.no_postgres:
        changes["postgres"] = False
    if args.stored:
        changes["scale_stored"] = args.stored
        changes["scale_active"] = min(settings.scale_active, args.stored // (4 * settings.runs))
    if args.reminders:
        changes["reminders"] = args.reminders
        changes["reminder_users"] = max(1, args.reminders // 4)
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "profile":
        from bench.profile import main as profile

        return profile(args.managers or 20, args.out)
    settings = settings_from(args)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    suite, elapsed = run_suite(settings, log)
    markdown = render(suite, settings, elapsed, command.strip())
    print(markdown)
    path = save(suite, markdown, args.out)
    log(f"saved: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
