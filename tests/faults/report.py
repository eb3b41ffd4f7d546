"""Figures of the fault runs: printed, and appended as JSON lines to $ALLIANCE_FAULT_REPORT.

docs/reliability.md quotes these figures; `ALLIANCE_FAULT_REPORT=figures.jsonl make test-long`
collects them for the next update of that page.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def record(test: str, **figures: Any) -> None:
    """Report what one run measured."""
    line = json.dumps({"test": test, **figures}, default=str, sort_keys=True)
    print(line, file=sys.stderr)
    target = os.environ.get("ALLIANCE_FAULT_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
