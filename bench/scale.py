"""The stored data of the scale benchmark: generated once, kept in a cache, copied per run.

Generating 100,000 conversations (about 2.7 million answers) takes some 20 s; the result is
kept under ``BENCH_CACHE`` (default: <temp dir>/alliance-bot-bench), keyed by everything it
depends on (the generator, the walk, the migrations, the dialogue files and the sizes), so a
second ``make bench`` starts from a copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.datagen import ActiveUser, Generated, generate_sqlite
from bench.procs import ROOT


def cache_dir() -> Path:
    return Path(
        os.environ.get("BENCH_CACHE") or Path(tempfile.gettempdir()) / "alliance-bot-bench"
    )


def _fingerprint(stored: int, active: int, runs: int) -> str:
    digest = hashlib.sha256(f"{stored}/{active}/{runs}".encode())
    sources = [ROOT / "bench" / "datagen.py", ROOT / "bench" / "checklist.py"]
    sources += sorted((ROOT / "bot" / "storage" / "migrations" / "versions").glob("*.py"))
    sources += sorted((ROOT / "dialogues").glob("*.yaml"))
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def scale_database(target: Path, *, stored: int, active: int, runs: int) -> tuple[Generated, bool]:
    """Put a database with ``stored`` conversations at ``target``; True if it came from the
    cache."""
    key = _fingerprint(stored, active, runs)
    folder = cache_dir()
    cached = folder / f"scale-{stored}-{key}.sqlite3"
    meta = cached.with_suffix(".json")
    hit = cached.exists() and meta.exists()
    if not hit:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"scale-{stored}-*"):
            old.unlink()
        building = folder / f"building-{os.getpid()}.sqlite3"
        generated = generate_sqlite(str(building), stored=stored, active=active, runs=runs)
        building.rename(cached)
        meta.write_text(
            json.dumps(
                {
                    "stored": generated.stored,
                    "answers": generated.answers,
                    "active": [[[a.telegram_id, a.question] for a in s] for s in generated.active],
                }
            )
        )
    data = json.loads(meta.read_text())
    generated = Generated(
        data["stored"],
        data["answers"],
        tuple(tuple(ActiveUser(i, q) for i, q in s) for s in data["active"]),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    # On disk before the rounds begin: the kernel would otherwise write the copy's 700 MB back
    # about 30 s later (vm.dirty_expire_centisecs), in round 1, and every commit of the bot
    # measured then (a sync to disk, on its event loop) would wait behind it.
    for written in (target,) if hit else (cached, target):
        _sync(written)
    return generated, hit


def _sync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())
