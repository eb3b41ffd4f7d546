"""The bot process's memory, as glibc's allocator keeps it.

Two habits of glibc's malloc keep the bot's resident memory above what it uses:

* every thread that allocates gets an arena of its own (up to 8 per core): the storage's worker
  threads each keep the pages they touched. `limit_arenas`, called before any thread starts,
  leaves the process one arena, the main thread's, for all its threads: they hold the GIL
  whenever Python allocates; only SQLite allocates without it, in a worker thread, and may
  then wait for the arena's lock. Whether that costs CPU is not settled: with this and three
  other memory changes, CPU per update was 1,527 against 1,400 µs (4 alternated pairs, 3
  higher), within the fifth those runs varied by between identical trees (BENCHMARKS.md).
  One arena rather than two: the bot's RSS 0.2 MiB
  lower once started, 0.4-0.5 MiB lower after the benchmark's walk and summaries, 0.24 MiB
  after its PDFs (`bench.update_cost`, 4 alternated pairs);
* freed pages stay with the process for later allocations. `release_freed_memory` gives them
  back after large buffers (a chart, a PDF: several copies pass through the bot on their way to
  Telegram) were freed, and once the garbage start-up left was collected (about 0.5 MiB,
  bot/telegram/runner.py).

Measured with `python -m bench --only update` (RSS of the bot after 40 checklist ends and 20
PDFs): 69.3 MiB without either, 66.5 MiB with both. Elsewhere than glibc (musl), both do nothing.
"""

from __future__ import annotations

from typing import Any

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
ARENAS = 1

_libc: Any = None


def _glibc() -> Any:
    """The C library's allocator functions, or False when they are not glibc's."""
    global _libc
    if _libc is None:
        import ctypes

        libc = ctypes.CDLL(None)
        glibc = hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")
        _libc = libc if glibc else False
    return _libc


def limit_arenas(arenas: int = ARENAS) -> None:
    """At most `arenas` malloc arenas for the whole process (before threads start)."""
    libc = _glibc()
    if libc:
        libc.mallopt(M_ARENA_MAX, arenas)


def release_freed_memory() -> None:
    """Give the pages freed in every arena back to the system (glibc's malloc_trim)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
