"""The reminder dispatcher: sends due reminders, paced under Telegram's limits, each recorded
the moment it is sent.

A tick claims due reminders from storage (``Storage.claim_due``: a lease, so each reminder is
held by one worker at a time, across replicas), renders each one, sends it and records the
outcome right away: ``mark_sent`` after a successful send, ``retry_later`` with exponential
backoff after a network or server error, ``mark_failed`` for a request Telegram refuses
(``BadRequest``: our bug) or after ``max_attempts``. A user who blocked the bot is marked
blocked (their reminders wait, unclaimed, until /start unblocks them). A ``RetryAfter`` pauses
every send of this dispatcher for the time Telegram asked.

In the bot, sends are paced by the bot's rate limiter alone (bot/telegram/limiter.py, given
as ``paced_by``): the dispatcher asks it how long a chat must still wait before it takes that
chat's turn, and the limiter spaces the sends overall. Without one (a dispatcher on a plain
``Bot``), the dispatcher paces by itself: one global slot every ``1 / global_rate`` seconds and
at most one message per chat every ``per_chat_interval`` seconds. At most ``max_in_flight``
sends wait for Telegram's answer at once, which is also the bound on duplicates if the process
dies between a send and its record (the lease then runs out and another worker sends those
again). docs/reminders.md, "Delivery", explains the whole policy.

A tick also forgets the processed-update records older than ``KEEP_PROCESSED`` (duplicate
detection needs a few days at most): one batch (``PRUNE_BATCH``, one transaction) per tick
while full batches come back, then again ``PRUNE_EVERY`` later. A backlog (millions of records
in a database written before pruning existed) is so worked off at a steady pace, a few
milliseconds every tick, and never holds a tick, nor the bot's shutdown, for long.

In the bot, ``Dispatcher.every`` ticks every few seconds (``Ticks``: a task of the event loop,
started and stopped with the bot by bot/telegram/runner.py).

The clock is read only through ``clock`` and time passes only through ``sleep``, so tests drive
the dispatcher with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.errors import StorageError
from bot.storage.base import Reminder, User
from bot.storage.database import PRUNE_BATCH, Storage

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
#: Seconds until a message to this chat may leave (0: now), by the bot's rate limiter.
ChatDelay = Callable[[int], float]

#: Backoff after a failed attempt: 30 s, 1 min, 2 min, ... never more than an hour.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
#: Processed-update records are kept this long: Telegram redelivers an update for a day at most.
KEEP_PROCESSED = timedelta(days=7)
#: How often a tick prunes the older ones when the last batch was not full.
PRUNE_EVERY = timedelta(minutes=10)
#: BadRequest descriptions that mean the user cannot be reached, like a Forbidden.
UNREACHABLE_BAD_REQUESTS = ("chat not found",)
#: A send starts only while more than lease / LEASE_SAFETY_FRACTION of its claim is left, so
#: it is answered and recorded before the lease runs out and another worker may take it over.
LEASE_SAFETY_FRACTION = 4


@dataclass(frozen=True)
class Outgoing:
    """One message to send: where, what (Telegram HTML) and which buttons."""

    chat_id: int
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


#: Turns a claimed reminder and its user into the message to send; None when there is nothing
#: to send any more (its project was deleted...): the reminder is then cancelled unsent.
RenderFn = Callable[[Reminder, User], Awaitable[Outgoing | None]]


@dataclass
class TickReport:
    """What one tick did, counted in reminders."""

    claimed: int = 0
    sent: int = 0  # delivered and recorded as sent
    retried: int = 0  # failed attempt: given back with a later due time (retry_later)
    failed: int = 0  # given up: BadRequest, or max_attempts reached (mark_failed)
    blocked: int = 0  # the user blocked the bot: released, left pending, user marked blocked
    skipped: int = 0  # nothing to send any more (render gave None: cancelled) or user gone
    deferred: int = 0  # not attempted before its lease ran short: left for a later tick
    rate_limited: int = 0  # RetryAfter answers received (the reminder was tried again)


def backoff(attempts: int) -> timedelta:
    """The wait before the next try of a reminder that already failed ``attempts`` times."""
    return min(BACKOFF_BASE * 2 ** min(attempts, 20), BACKOFF_CAP)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Job:
    reminder: Reminder
    user: User
    outgoing: Outgoing
    deadline: datetime  # the last moment a send of it may start


class _Run:
    """One tick's shared state: the per-chat queues and what their senders found."""

    def __init__(self, low_water: int, high_water: int) -> None:
        self.report = TickReport()
        self.queues: dict[int, deque[_Job]] = {}  # chat -> jobs not yet taken, in due order
        self.senders: list[asyncio.Task[None]] = []
        self.users: dict[int, User | None] = {}
        self.unreachable: set[int] = set()  # ids of users found blocked
        self.stop = False  # no new sends: a StorageError or an invalid token
        self.error: Exception | None = None  # what tick() raises once the senders are done
        self.queued = 0  # jobs in the queues
        self.active = 0  # senders running
        self.chat_waiting = 0  # senders waiting for their chat's interval
        self.want_more = asyncio.Event()
        self._low_water = low_water
        self._high_water = high_water

    def check(self) -> None:
        """Ask for the next claim when the queues run low, or when every sender waits for
        its chat's interval (the global pace would idle) and the queues are not too long."""
        starved = self.chat_waiting >= self.active and self.queued < self._high_water
        if self.queued <= self._low_water or starved:
            self.want_more.set()

    def take(self, queue: deque[_Job], count: int = 1) -> None:
        """Remove count jobs from the head of queue."""
        for _ in range(count):
            queue.popleft()
        self.queued -= count
        self.check()


class Dispatcher:
    """Sends due reminders reliably; call tick() periodically (see `every`)."""

    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        render: RenderFn,
        *,
        worker: str,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 100,
        global_rate: float = 28.0,
        per_chat_interval: float = 1.05,
        max_attempts: int = 8,
        max_in_flight: int = 8,
        paced_by: ChatDelay | None = None,
    ) -> None:
        """Set up the dispatcher; nothing is claimed or sent before tick().

        Args:
            storage: where reminders are claimed and their outcomes recorded.
            bot: an initialized Bot (or the application's ExtBot). Its connection pool must
                allow max_in_flight requests at once (ApplicationBuilder's default does).
            render: the message for a reminder, or None when there is nothing to send.
            worker: this dispatcher's name in claims; unique per process (host and pid).
            clock: the current time, aware.
            sleep: waits that many seconds (asyncio.sleep; tests pass a fake).
            lease: how long a claim lasts; sends start only in its first three quarters.
            batch: about how many reminders one claim takes (claim_due keeps a user's
                reminders together, so a claim may hold up to twice as many).
            global_rate: messages per second this dispatcher sends at most. Telegram allows
                about 30 per bot, replies to users included: with several replicas, give each
                its share (28 / replicas).
            per_chat_interval: seconds between two messages to the same chat, at least.
            max_attempts: failed attempts after which a reminder is marked failed.
            max_in_flight: sends awaiting Telegram's answer at once, at most.
            paced_by: the bot's rate limiter's "seconds until this chat may get a message";
                given, it replaces global_rate and per_chat_interval (one pacing layer).

        Raises:
            ValueError: a limit is not positive.
        """
        if not worker:
            raise ValueError("a dispatcher needs a worker name")
        if lease <= timedelta(0) or batch < 1 or max_attempts < 1 or max_in_flight < 1:
            raise ValueError("lease, batch, max_attempts and max_in_flight must be positive")
        if global_rate <= 0 or per_chat_interval < 0:
            raise ValueError("global_rate must be positive and per_chat_interval not negative")
        self._storage = storage
        self._bot = bot
        self._render = render
        self._worker = worker
        self._clock = clock
        self._sleep = sleep
        self._lease = lease
        self._batch = batch
        self._paced_by = paced_by
        self._spacing = timedelta(seconds=0 if paced_by else 1 / global_rate)
        self._per_chat = timedelta(seconds=0 if paced_by else per_chat_interval)
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tick_lock = asyncio.Lock()
        epoch = datetime.min.replace(tzinfo=UTC)
        self._next_slot = epoch  # the earliest start of the next send (global pace)
        self._resume_at = epoch  # no send before this (a RetryAfter)
        self._chat_ready: dict[int, datetime] = {}  # chat -> earliest start of its next send
        self._in_flight = 0
        self._prune_at = epoch  # when a tick next forgets old processed-update records
        self._forgotten = 0  # records forgotten by the batches of this pruning so far

    @property
    def worker(self) -> str:
        """The name this dispatcher claims reminders under."""
        return self._worker

    @property
    def in_flight(self) -> int:
        """Sends started and not yet recorded (answer awaited, or outcome being written)."""
        return self._in_flight

    @property
    def paused_until(self) -> datetime | None:
        """When the pause asked by Telegram's last RetryAfter ends, if it has not ended."""
        return self._resume_at if self._resume_at > self._clock() else None

    async def tick(self) -> TickReport:
        """Claim due reminders and send them; claim again, as long as full batches come,
        before the queues run dry, so the pace does not idle between batches.

        Returns at once, claiming nothing, while a RetryAfter pause lasts. Concurrent calls
        run one after the other.

        Raises:
            StorageError: claiming or recording an outcome failed. Sends stop; the reminders
                still claimed are taken again once their lease runs out (one sent but not
                recorded is then sent twice).
        """
        async with self._tick_lock:
            await self._prune()
            run = _Run(low_water=self._batch // 2, high_water=4 * self._batch)
            try:
                await self._claim_and_send(run)
            except Exception as exc:  # the senders stop too; what is claimed waits its lease
                run.stop = True
                run.error = exc
            except BaseException:  # cancelled (shutdown): the same, at once
                for sender in run.senders:
                    sender.cancel()
                await asyncio.gather(*run.senders, return_exceptions=True)
                raise
            await asyncio.gather(*run.senders)
            if run.report.claimed:
                logger.info("reminders: worker %s: %s", self._worker, _summary(run.report))
            if run.error is not None:
                raise run.error
            return run.report

    async def logged_tick(self) -> None:
        """One tick, its exception logged, never raised; skipped while another tick runs."""
        if self._tick_lock.locked():
            logger.debug("reminders: previous tick still running; this one skipped")
            return
        try:
            await self.tick()
        except Exception:
            logger.exception("reminders: tick of worker %s failed", self._worker)

    def every(self, interval: float, *, first: float = 1.0) -> Ticks:
        """Ticks every `interval` seconds, the first `first` seconds after `Ticks.start`."""
        return Ticks(self.logged_tick, interval, first=first)

    # ---- one tick --------------------------------------------------------------------------

    async def _prune(self) -> None:
        """Forget one batch of old processed-update records when it is time: at the next tick
        again if the batch was full (more are left), else PRUNE_EVERY later. A failure is
        logged, and the claim goes on."""
        now = self._clock()
        if now < self._prune_at:
            return
        self._prune_at = now + PRUNE_EVERY
        try:
            forgotten = await self._storage.prune_processed(now - KEEP_PROCESSED)
        except StorageError as exc:
            logger.warning("processed updates: pruning failed: %s", exc)
            return
        self._forgotten += forgotten
        if forgotten >= PRUNE_BATCH:
            self._prune_at = now
        elif self._forgotten:
            logger.info(
                "processed updates: %s older than %s forgotten", self._forgotten, KEEP_PROCESSED
            )
            self._forgotten = 0

    async def _claim_and_send(self, run: _Run) -> None:
        while not run.stop:
            now = self._clock()
            if self._resume_at > now:
                logger.debug("reminders: Telegram asked to wait until %s", self._resume_at)
                return
            claimed = await self._storage.claim_due(
                now, worker=self._worker, lease=self._lease, limit=self._batch
            )
            run.report.claimed += len(claimed)
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
            for reminder in claimed:
                job = await self._prepare(reminder, now, run)
                if job is not None:
                    self._enqueue(job, run)
            if len(claimed) < self._batch:
                return
            run.want_more.clear()
            run.check()
            await run.want_more.wait()

    def _enqueue(self, job: _Job, run: _Run) -> None:
        """Queue job behind its chat's; a chat without a queue gets one and a sender."""
        chat_id = job.outgoing.chat_id
        queue = run.queues.get(chat_id)
        if queue is None:
            queue = run.queues[chat_id] = deque()
            run.active += 1
            run.senders.append(asyncio.create_task(self._send_chat(chat_id, queue, run)))
        queue.append(job)
        run.queued += 1

    # ---- one reminder ----------------------------------------------------------------------

    async def _prepare(self, reminder: Reminder, now: datetime, run: _Run) -> _Job | None:
        """The job for a claimed reminder, or None once it has been dealt with here."""
        if reminder.user_id not in run.users:
            run.users[reminder.user_id] = await self._user(reminder.user_id)
        user = run.users[reminder.user_id]
        if user is None:
            run.report.skipped += 1  # erased with its reminders meanwhile
            return None
        if user.blocked_at is not None:  # blocked by another worker since the claim
            await self._release_blocked(reminder, run)
            return None
        try:
            outgoing = await self._render(reminder, user)
        except Exception:
            logger.exception(
                "reminders: rendering reminder %s (%s %s) failed",
                reminder.id,
                reminder.kind,
                reminder.ref,
            )
            await self._retry_or_fail(reminder, now, run, "render failed")
            return None
        if outgoing is None:
            await self._storage.set_reminder_status(
                reminder.id, user_id=reminder.user_id, status="cancelled"
            )
            logger.info(
                "reminders: reminder %s (%s %s) has nothing to send any more; cancelled",
                reminder.id,
                reminder.kind,
                reminder.ref,
            )
            run.report.skipped += 1
            return None
        until = reminder.claimed_until or now + self._lease
        return _Job(reminder, user, outgoing, until - self._lease / LEASE_SAFETY_FRACTION)

    async def _user(self, user_id: int) -> User | None:
        # Storage reads users by key only; update_user with no change returns the user by id.
        try:
            return await self._storage.update_user(user_id)
        except StorageError:
            logger.warning("reminders: user %s not found; their reminder is skipped", user_id)
            return None

    async def _send_chat(self, chat_id: int, queue: deque[_Job], run: _Run) -> None:
        """Send one chat's jobs in order, spaced. Once the run stops, what is left stays
        claimed (deferred) until its lease runs out."""
        try:
            while queue:
                job = queue[0]
                if run.stop:
                    run.report.deferred += len(queue)
                    run.take(queue, len(queue))
                    break
                try:
                    if not await self._deliver(chat_id, job, run):
                        continue  # a RetryAfter: the same job again, after the pause
                except Exception as exc:  # recording an outcome failed (StorageError, a bug)
                    logger.error(
                        "reminders: recording the outcome of reminder %s failed (%r); it may"
                        " be sent again once its lease runs out; sends stopped",
                        job.reminder.id,
                        exc,
                    )
                    run.stop = True
                    run.error = run.error or exc
                run.take(queue)
        finally:
            # No await between the last look at the queue and this: a job the tick adds
            # later finds no queue and starts a new sender.
            del run.queues[chat_id]
            run.active -= 1
            run.check()

    async def _deliver(self, chat_id: int, job: _Job, run: _Run) -> bool:
        """Deal with the job at the head of its chat's queue: send it when its turn comes,
        or release it (blocked user), or defer it (no turn before its deadline). False if
        it must be tried again: a RetryAfter paused every send."""
        if job.user.id in run.unreachable:
            await self._release_blocked(job.reminder, run)
            return True
        if not await self._wait_turn(chat_id, job.deadline, run):
            run.report.deferred += 1
            return True
        try:
            return await self._attempt(job, run)
        finally:
            self._slots.release()

    async def _wait_turn(self, chat_id: int, deadline: datetime, run: _Run) -> bool:
        """Wait until a send to chat_id may start: its chat interval passed, no pause, a global
        slot of its own; True holding an in-flight slot, False (holding none) if that moment
        falls after deadline."""
        while True:
            now = self._clock()
            ready = max(self._chat_ready_at(chat_id, now), self._resume_at)
            if ready > now:
                if ready > deadline:
                    return False
                run.chat_waiting += 1
                run.check()
                try:
                    await self._sleep((ready - now).total_seconds())
                finally:
                    run.chat_waiting -= 1
                continue
            await self._slots.acquire()
            now = self._clock()
            start = max(now, self._next_slot)
            if max(self._chat_ready_at(chat_id, now), self._resume_at) > now or start > deadline:
                self._slots.release()  # things moved while we waited for a slot: look again
                if start > deadline:
                    return False
                continue
            self._next_slot = start + self._spacing  # reserved: later senders queue behind
            if start > now:
                await self._sleep((start - now).total_seconds())
            if self._resume_at > self._clock():  # a RetryAfter came in meanwhile
                self._slots.release()
                continue
            return True

    def _chat_ready_at(self, chat_id: int, now: datetime) -> datetime:
        """The earliest start of the next send to chat_id, by the pace of whoever paces."""
        if self._paced_by is not None:
            return now + timedelta(seconds=self._paced_by(chat_id))
        return self._chat_ready.get(chat_id, now)

    async def _attempt(self, job: _Job, run: _Run) -> bool:
        """Send job once and record the outcome; False if it must be tried again now (a
        RetryAfter paused every send). Called holding an in-flight slot."""
        reminder, out = job.reminder, job.outgoing
        self._chat_ready[out.chat_id] = self._clock() + self._per_chat
        self._in_flight += 1
        try:
            await self._bot.send_message(
                chat_id=out.chat_id,
                text=out.text,
                parse_mode=ParseMode.HTML,
                reply_markup=out.reply_markup,
            )
        except RetryAfter as exc:
            self._pause(exc, reminder)
            run.report.rate_limited += 1
            return False
        except Forbidden as exc:
            await self._unreachable(job, exc, run)
        except BadRequest as exc:
            if any(text in exc.message.lower() for text in UNREACHABLE_BAD_REQUESTS):
                await self._unreachable(job, exc, run)
            else:
                logger.error(
                    "reminders: Telegram refused reminder %s (%s %s, user %s, %s characters):"
                    " %s; marked failed",
                    reminder.id,
                    reminder.kind,
                    reminder.ref,
                    reminder.user_id,
                    len(out.text),
                    exc.message,
                )
                await self._storage.mark_failed(reminder.id, worker=self._worker)
                run.report.failed += 1
        except InvalidToken as exc:
            logger.critical("reminders: Telegram rejects the bot token (%s); sends stopped", exc)
            run.stop = True
            run.report.deferred += 1
        except TelegramError as exc:  # network errors, time-outs, 5xx
            await self._retry_or_fail(reminder, self._clock(), run, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # not Telegram's: still, never lose the reminder
            logger.exception("reminders: sending reminder %s failed unexpectedly", reminder.id)
            await self._retry_or_fail(reminder, self._clock(), run, repr(exc))
        else:
            await self._record_sent(reminder, run)
        finally:
            self._in_flight -= 1
        return True

    # ---- outcomes --------------------------------------------------------------------------

    async def _record_sent(self, reminder: Reminder, run: _Run) -> None:
        if not await self._storage.mark_sent(reminder.id, worker=self._worker):
            # Moved, closed or taken over while we sent it: it was delivered all the same.
            logger.warning(
                "reminders: reminder %s was sent but worker %s no longer held its claim",
                reminder.id,
                self._worker,
            )
        run.report.sent += 1

    def _pause(self, exc: RetryAfter, reminder: Reminder) -> None:
        wait = _retry_after_seconds(exc)
        self._resume_at = max(self._resume_at, self._clock() + timedelta(seconds=wait))
        logger.warning(
            "reminders: Telegram asked to retry after %s s (reminder %s); every send waits",
            wait,
            reminder.id,
        )

    async def _unreachable(self, job: _Job, exc: TelegramError, run: _Run) -> None:
        reminder = job.reminder
        logger.warning(
            "reminders: user %s cannot be reached (%s); marked blocked, reminder %s kept",
            reminder.user_id,
            exc.message,
            reminder.id,
        )
        await self._storage.update_user(reminder.user_id, blocked_at=self._clock())
        run.unreachable.add(reminder.user_id)
        await self._release_blocked(reminder, run)

    async def _release_blocked(self, reminder: Reminder, run: _Run) -> None:
        """Give a blocked user's reminder back, due as before: it waits for /start."""
        await self._storage.retry_later(reminder.id, worker=self._worker, due_at=reminder.due_at)
        run.report.blocked += 1

    async def _retry_or_fail(self, reminder: Reminder, now: datetime, run: _Run, why: str) -> None:
        if reminder.attempts + 1 >= self._max_attempts:
            await self._storage.mark_failed(reminder.id, worker=self._worker)
            run.report.failed += 1
            logger.error(
                "reminders: reminder %s (%s %s, user %s) failed %s times, last: %s; given up",
                reminder.id,
                reminder.kind,
                reminder.ref,
                reminder.user_id,
                reminder.attempts + 1,
                why,
            )
            return
        due = now + backoff(reminder.attempts)
        await self._storage.retry_later(reminder.id, worker=self._worker, due_at=due)
        run.report.retried += 1
        logger.warning(
            "reminders: reminder %s (user %s) attempt %s failed (%s); next try at %s",
            reminder.id,
            reminder.user_id,
            reminder.attempts + 1,
            why,
            due,
        )


def _retry_after_seconds(exc: RetryAfter) -> float:
    """retry_after in seconds, whether PTB gives it as a timedelta or (deprecated) a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(seconds, 0.0)


def _summary(report: TickReport) -> str:
    return ", ".join(f"{name} {getattr(report, name)}" for name in report.__dataclass_fields__)


class Ticks:
    """Calls `tick` every `interval` seconds, in a task of the event loop, from `start` until
    `stop`: one call at a time (a call that outlasts the interval is followed by the next at
    once), the first `first` seconds after `start`. An exception of a call is logged and the
    ticks go on. `stop` cancels a call in progress, as the bot's shutdown always did: the
    dispatcher stops its sends at once, and what it had claimed is claimed again once the
    lease runs out (docs/reminders.md).
    """

    def __init__(
        self, tick: Callable[[], Awaitable[None]], interval: float, *, first: float
    ) -> None:
        if interval <= 0 or first < 0:
            raise ValueError("ticks need a positive interval and a first delay of 0 or more")
        self._tick = tick
        self._interval = interval
        self._first = first
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start ticking (in the running event loop); starting twice changes nothing."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="reminders")

    async def stop(self) -> None:
        """Stop ticking; the call in progress, if any, is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self._first
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                await self._tick()
            except Exception:  # the next tick comes all the same
                logger.exception("reminders: tick failed")
            due = max(due + self._interval, loop.time())
