"""The command lines of the benchmark's single-purpose tools (``python -m bench.burst`` and the
like): argparse reads them, so that a mistyped argument gets a usage line and a one-line error,
not a Python traceback."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """A whole number of at least 1 (managers, rounds, runs), for argparse's ``type``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser for ``python -m MODULE``, described by the first line of its docstring."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=(doc or "").strip().splitlines()[0]
    )
