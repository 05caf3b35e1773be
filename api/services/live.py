"""The live night: durable re-plans, drained per night, never on the event loop.

A change that calls for a re-plan (a partner's call, an amendment, a nurse's report) records
it with `request_replan` in the transaction that accepts the change; `ReplanWorker` drains
the record. Requests that promise an answer (a partner's acute call) drain it themselves in
their worker thread (`ReplanWorker.replan_now`); the worker's own thread drains whatever is
left (`ReplanWorker.notify`, a poll, and everything pending at start-up, so a crash after
the commit is re-planned after the restart). Drains of one night are serialised: a thread
lock per night and, on PostgreSQL, an advisory lock across processes. A live re-plan is
stored on whatever version the night is at, so a partner is never refused because another
request re-planned first; ``If-Match`` stays for the planner's own edits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.core.config import Settings
from api.core.problems import Conflict, Unprocessable
from api.core.roles import Principal
from api.db.models import Night, Region
from api.night.changes import record_report
from api.repositories import nights
from api.services.planning import (
    ReplanResult,
    fallback_replan,
    quick_replan,
    replan,
    solve_night,
    store_solved,
)

__all__ = [
    "ReplanWorker",
    "needs_live_replan",
    "record_nurse_event",
    "request_replan",
]

logger = logging.getLogger("nachtroute.live")

# The worker thread's name (tests tell its statements from the requests' by it).
REPLAN_WORKER = "replan-worker"

EVENT_KINDS = ("started", "done", "delayed", "could_not_get_in")

#: PostgreSQL advisory lock class of a night's re-plans (the night id is the second key).
_ADVISORY_CLASS = 0x4E52  # "NR"

Clock = Callable[[], datetime]


def request_replan(session: Session, night: Night, *, reason: str) -> None:
    """Record, in the caller's transaction, that ``night`` needs a re-plan (not committed).

    Call it before committing the change that calls for the re-plan; after the commit, ask
    the app's `ReplanWorker` (``app.state.replanner``) to ``replan_now`` or ``notify``.
    """
    nights.mark_replan_needed(session, night, reason=reason)


def needs_live_replan(night: Night, now: datetime) -> bool:
    """Whether a change to ``night`` at ``now`` calls for a re-plan: it has a plan and has
    not ended (before it starts the planner's plan is re-planned too, so a visit added for
    tonight is in the routes or unassigned)."""
    return night.plan_version > 0 and now < night.ends_at


class ReplanWorker:
    """Drains the nights' pending re-plans in this process (see the module's text)."""

    def __init__(
        self, session_factory: sessionmaker[Session], settings: Settings, clock: Clock
    ) -> None:
        self._sessions = session_factory
        self._settings = settings
        self._clock = clock
        engine = session_factory.kw.get("bind")
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._postgres = self._engine is not None and self._engine.dialect.name == "postgresql"
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._last: dict[int, ReplanResult] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Notices asked for, and the latest notice a drain that left nothing owed began after.
        self._settled = threading.Condition()
        self._asked = 0
        self._covered = 0
        self._thread: threading.Thread | None = None

    # -- the worker's thread

    def start(self) -> None:
        """Start the worker thread; it drains everything pending first (a restart's debt)."""
        self._stop.clear()  # restartable after `stop`
        self._thread = threading.Thread(target=self._loop, name=REPLAN_WORKER, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker thread (a re-plan under way is finished, not cut off)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self, night_id: int | None = None) -> int:
        """Let the worker thread drain pending re-plans soon (``night_id`` is a hint);
        returns the notice's number."""
        with self._settled:
            self._asked += 1
            asked = self._asked
        self._wake.set()
        return asked

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until a drain begun after this call has left nothing owed (tests, the CLI);
        ``False`` on timeout."""
        asked = self.notify()
        with self._settled:
            return self._settled.wait_for(lambda: self._covered >= asked, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._settled:
                asked = self._asked
            try:
                left = self.drain_pending()
            except Exception as error:  # never let the worker die; the poll tries again
                logger.warning("draining re-plans failed: %s", type(error).__name__)
                left = -1
            if left == 0:
                with self._settled:
                    self._covered = max(self._covered, asked)
                    self._settled.notify_all()
            self._wake.wait(self._settings.replan_poll_seconds)

    def drain_pending(self) -> int:
        """Re-plan every night with a re-plan owed; returns how many are still owed."""
        with self._sessions() as session:
            pending = nights.pending_replans(session)
        for night_id in pending:
            if self._stop.is_set():
                break
            try:
                self.search_then_store(night_id)
            except Exception as error:  # the record stays; the next poll tries again
                logger.warning(
                    "re-plan of night %s failed: %s (kept pending)", night_id, type(error).__name__
                )
        with self._sessions() as session:
            return len(nights.pending_replans(session))

    # -- draining one night

    def replan_now(self, night_id: int) -> ReplanResult | None:
        """Drain ``night_id``'s pending re-plans (in the caller's thread, under the night's
        lock); returns the re-plan that covers them (``None``: none was owed or made here).

        A failure anywhere in the re-plan (building the problem, the solver, storing) stores
        the fallback instead (`fallback_replan`); only what stops even that (the database
        gone) is raised, and the record then stays pending for the worker thread.
        """
        with self.night_lock(night_id):
            for _attempt in range(3):
                with self._sessions() as session:
                    night = session.get(Night, night_id)
                    if night is None:
                        return None
                    wanted = night.replan_requested
                    if wanted <= night.replan_done:
                        return self._last.get(night_id)
                    region = session.get(Region, night.region_id)
                    assert region is not None
                    try:
                        result = replan(
                            session,
                            region,
                            night,
                            reason=night.replan_reason or "live re-plan",
                            now=self._clock(),
                            time_limit=self._settings.live_replan_seconds,
                            stall_seconds=self._settings.live_replan_stall_seconds,
                            live=True,
                            replan_done=wanted,
                        )
                    except Conflict:
                        continue  # a planner's edit came in between: again, from hers
                    except Exception as failure:
                        # Failing anywhere (building the problem, the live state, storing)
                        # must not leave the call owed: the last good plan, the new calls
                        # inserted or unassigned with a reason, and the planner sees it.
                        logger.warning(
                            "re-plan of night %s failed (%s); falling back",
                            night_id,
                            type(failure).__name__,
                        )
                        try:
                            result = fallback_replan(
                                session,
                                region,
                                night,
                                failure=failure,
                                reason=night.replan_reason or "live re-plan",
                                now=self._clock(),
                                replan_done=wanted,
                            )
                        except Conflict:
                            continue
                    if result.fallback:
                        logger.warning("night %s re-planned by fallback", night_id)
                    self._last[night_id] = result
                    return result
        raise Conflict("the night kept changing during the re-plan; it stays pending")

    #: Searches outside the night's lock that may be set aside because the night moved on
    #: meanwhile, before the worker searches under the lock (so it cannot starve).
    _UNLOCKED_TRIES = 2

    def search_then_store(self, night_id: int) -> ReplanResult | None:
        """The worker's drain of ``night_id``: the search runs outside the night's lock, so
        a partner's first answer (`answer_now`) never waits for it; the plan is stored under
        the lock only if the night is still at the version the search started from (else it
        is set aside and searched again: a first answer stored meanwhile holds a call the
        search did not know). After `_UNLOCKED_TRIES` set-asides, or when the search fails,
        `replan_now` drains it under the lock (with its fallback)."""
        for _attempt in range(self._UNLOCKED_TRIES):
            with self._sessions() as session:
                night = session.get(Night, night_id)
                if night is None:
                    return None
                wanted, base = night.replan_requested, night.plan_version
                if wanted <= night.replan_done:
                    return self._last.get(night_id)
                region = session.get(Region, night.region_id)
                assert region is not None
                try:
                    solved = solve_night(
                        session,
                        region,
                        night,
                        now=self._clock(),
                        time_limit=self._settings.live_replan_seconds,
                        stall_seconds=self._settings.live_replan_stall_seconds,
                    )
                except Exception as error:
                    logger.warning(
                        "search for night %s failed (%s); re-planning under the lock",
                        night_id,
                        type(error).__name__,
                    )
                    break
                session.rollback()  # no read transaction held over the search
                with self.night_lock(night_id):
                    session.expire_all()
                    night = session.get(Night, night_id)
                    if night is None:
                        return None
                    if night.plan_version != base:
                        continue  # a plan was stored meanwhile: search again from it
                    try:
                        result = store_solved(
                            session,
                            night,
                            solved,
                            reason=night.replan_reason or "live re-plan",
                            now=self._clock(),
                            base_version=base,
                            live=True,
                            replan_done=wanted,
                        )
                    except Conflict:
                        continue
                    except Exception as error:
                        logger.warning(
                            "storing the search for night %s failed (%s)",
                            night_id,
                            type(error).__name__,
                        )
                        break
                    if result.fallback:
                        logger.warning("night %s re-planned by fallback", night_id)
                    self._last[night_id] = result
                    return result
        return self.replan_now(night_id)

    def answer_now(self, night_id: int) -> ReplanResult | None:
        """A partner's answer: the quick insertion (`quick_replan`) stored at once, and the
        searched re-plan left to the worker thread (the record stays pending until it is
        stored, so a crash in between is re-planned after the restart). When the insertion
        cannot place every call, the search runs here (`replan_now`)."""
        try:
            with self.night_lock(night_id), self._sessions() as session:
                night = session.get(Night, night_id)
                if night is None:
                    return None
                if night.replan_requested <= night.replan_done:
                    return self._last.get(night_id)
                region = session.get(Region, night.region_id)
                assert region is not None
                result = quick_replan(
                    session,
                    region,
                    night,
                    reason=f"{night.replan_reason or 'live re-plan'} (first answer)",
                    now=self._clock(),
                )
        except Exception as error:  # the search below answers instead
            logger.warning("quick answer for night %s failed: %s", night_id, type(error).__name__)
            result = None
        if result is None:
            return self.replan_now(night_id)
        self.notify(night_id)
        return result

    def last_result(self, night_id: int) -> ReplanResult | None:
        """The latest live re-plan this process stored for ``night_id``."""
        return self._last.get(night_id)

    @contextmanager
    def night_lock(self, night_id: int) -> Iterator[None]:
        """Hold ``night_id``'s re-plan lock: this process's, and PostgreSQL's across
        processes (a session-level advisory lock on a connection of its own)."""
        with self._locks_guard:
            lock = self._locks.setdefault(night_id, threading.Lock())
        with lock:
            if not self._postgres or self._engine is None:
                yield
                return
            with self._engine.connect() as connection:
                connection.execute(
                    text("SELECT pg_advisory_lock(:c, :n)"), {"c": _ADVISORY_CLASS, "n": night_id}
                )
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:c, :n)"),
                        {"c": _ADVISORY_CLASS, "n": night_id},
                    )
                    connection.commit()

    # -- the planner's re-optimise

    def reoptimise(
        self,
        session: Session,
        night_id: int,
        *,
        base_version: int,
        time_limit: float,
        user_id: int | None,
        progress: Callable[[str], None] | None = None,
    ) -> ReplanResult:
        """The planner's long re-optimise: solved without any lock (calls keep being planned
        meanwhile), stored under the night's lock. Live re-plans stored meanwhile are laid
        under it (a short warm-started re-plan from the re-optimised routes takes in their
        calls); a planner's edit since ``base_version`` makes it `Conflict`, whose text the
        job shows (versions only, nothing personal)."""
        try:
            return self._reoptimise(
                session,
                night_id,
                base_version=base_version,
                time_limit=time_limit,
                user_id=user_id,
                progress=progress,
            )
        except Conflict as conflict:
            conflict.public = True  # type: ignore[attr-defined]
            raise

    def _reoptimise(
        self,
        session: Session,
        night_id: int,
        *,
        base_version: int,
        time_limit: float,
        user_id: int | None,
        progress: Callable[[str], None] | None = None,
    ) -> ReplanResult:
        night = session.get(Night, night_id)
        region = session.get(Region, night.region_id) if night is not None else None
        if night is None or region is None:
            raise Unprocessable("the night is gone")
        nights.check_version(session, night, base_version)
        solved = solve_night(
            session,
            region,
            night,
            now=self._clock(),
            time_limit=time_limit,
            progress=progress,
            kind="job",
        )
        with self.night_lock(night_id):
            session.expire_all()
            night = session.get(Night, night_id)
            assert night is not None
            if night.plan_version == base_version:
                return store_solved(
                    session,
                    night,
                    solved,
                    reason="re-optimised",
                    now=self._clock(),
                    base_version=base_version,
                    user_id=user_id,
                    replan_done=max(night.replan_done, solved.replan_requested),
                )
            since = nights.plan_versions(session, night, after=base_version)
            if any(not v.live for v in since):
                raise nights.stale(session, night, base_version)
            if progress is not None:
                progress("calls came in meanwhile: taking them into the re-optimised plan")
            return replan(
                session,
                region,
                night,
                reason="re-optimised",
                now=self._clock(),
                time_limit=self._settings.live_replan_seconds,
                stall_seconds=self._settings.live_replan_stall_seconds,
                user_id=user_id,
                warm_start=solved.plan,
                replan_done=night.replan_requested,
            )


def record_nurse_event(
    session: Session,
    principal: Principal,
    region: Region,
    night: Night,
    *,
    kind: str,
    nurse_code: str | None,
    visit_id: int | None,
    delay_minutes: int | None,
    now: datetime,
    replanner: ReplanWorker,
) -> tuple[int, ReplanResult | None]:
    """Record a nurse's report by the night's rules (`api.night.changes.record_report`) and
    re-plan the rest of the night from it (the report and the re-plan it needs are committed
    together)."""
    event = record_report(
        session,
        principal,
        night,
        kind=kind,
        nurse_code=nurse_code,
        visit_id=visit_id,
        delay_minutes=delay_minutes,
        now=now,
    )
    request_replan(session, night, reason=f"nurse reported {kind}")
    session.commit()
    return event.id, replan_or_leave_pending(replanner, night.id)


def replan_or_leave_pending(
    replanner: ReplanWorker, night_id: int, *, quick: bool = False
) -> ReplanResult | None:
    """Drain the night's re-plan now (``quick``: answer with the quick insertion and let the
    worker search, `ReplanWorker.answer_now`); if that fails beyond the solver, leave it
    pending for the worker thread (the change is committed either way) and answer ``None``."""
    try:
        if quick:
            return replanner.answer_now(night_id)
        return replanner.replan_now(night_id)
    except Exception as error:
        logger.warning("live re-plan of night %s left pending: %s", night_id, type(error).__name__)
        replanner.notify(night_id)
        return None
