"""How claim_due picks reminders, the same on every backend (the SQL differs; this does not)."""

from __future__ import annotations

from collections.abc import Sequence


def whole_users(rows: Sequence[tuple[int, int]], limit: int) -> list[int]:
    """Which of rows (reminder id, user id; in due order) claim_due claims: whole users,
    soonest first, until limit is reached, never more than 2 * limit in all.

    A user who would go past 2 * limit ends the batch, whole; only a first user who alone
    has more is split (their soonest 2 * limit).
    """
    by_user: dict[int, list[int]] = {}  # in the order of each user's soonest reminder
    for reminder_id, user_id in rows:
        by_user.setdefault(user_id, []).append(reminder_id)
    cap = 2 * limit
    chosen: list[int] = []
    for ids in by_user.values():
        if len(chosen) >= limit:
            break
        if len(chosen) + len(ids) > cap:
            if not chosen:
                chosen = ids[:cap]
            break
        chosen += ids
    return chosen
