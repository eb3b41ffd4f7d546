"""The Telegram front end: python-telegram-bot handlers that parse, call the core, and reply."""

import os

# PTB 22 warns on every RetryAfter unless time periods are timedelta objects, which will be its
# default in v23; opt in now so retry_after is always a timedelta in our code.
os.environ.setdefault("PTB_TIMEDELTA", "true")
