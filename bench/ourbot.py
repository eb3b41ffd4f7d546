"""alliance-bot as the benchmarks run it: ``alliance-bot run``, its rate limiter optional.

``BENCH_RATE_LIMITER=0`` builds the application with ``rate_limiter=False`` (the only
difference from ``python -m bot.cli run``): the update-cost benchmark measures what the bot
can process, and the rate limiter would otherwise hold each simulated manager, who answers
within milliseconds, to Telegram's one message a second per chat (the "as shipped" rows
measure exactly that; see BENCHMARKS.md). Everything else is the production path:
settings from the environment, migrations, polling, the health server and the reminder
dispatcher.
"""

import functools
import gc
import os
import sys

from bot import cli


def main() -> int:
    if os.environ.get("BENCH_RATE_LIMITER", "1") == "0":
        gc.disable()  # as `run` starts (bot/cli.py); it resumes the collector once started
        from bot.telegram import app, runner

        runner.build_application = functools.partial(app.build_application, rate_limiter=False)
    return cli.main(["run"])


if __name__ == "__main__":
    sys.exit(main())
