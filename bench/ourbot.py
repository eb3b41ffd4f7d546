"""alliance-bot as the benchmarks run it: ``alliance-bot run``, AIORateLimiter optional.

``BENCH_RATE_LIMITER=0`` builds the application with ``rate_limiter=False`` (the only
difference from ``python -m bot.cli run``): the update-cost benchmark measures what the bot
can process, and PTB's AIORateLimiter would otherwise cap every bot at 30 requests per second
with a chat id, edits included (see BENCHMARKS.md). Everything else is the production path:
settings from the environment, migrations, polling, the health server and the reminder
dispatcher.
"""

import functools
import os
import sys

from bot import cli
from bot.telegram import app, runner


def main() -> int:
    if os.environ.get("BENCH_RATE_LIMITER", "1") == "0":
        runner.build_application = functools.partial(app.build_application, rate_limiter=False)
    return cli.main(["run"])


if __name__ == "__main__":
    sys.exit(main())
