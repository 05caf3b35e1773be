"""Background jobs behind a small interface: in-process threads now, a distributed queue later.

A job is a function of a `JobContext`; it reports progress through the context, and its state
lives in the ``jobs`` table, so any runner (or any API process) can answer "how far is it?".
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job

__all__ = ["InProcessJobRunner", "JobContext", "JobRunner"]

logger = logging.getLogger("nachtroute.jobs")


class JobContext:
    """What a running job gets: its id, a way to report progress and its own sessions."""

    def __init__(self, job_id: str, session_factory: sessionmaker[Session]) -> None:
        self.job_id = job_id
        self.session_factory = session_factory

    def progress(self, message: str) -> None:
        """Append a progress line to the job (visible at GET /jobs/{id})."""
        with self.session_factory() as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                job.progress = [*job.progress, message][-50:]
                session.commit()


JobFunction = Callable[[JobContext], dict[str, Any]]


class JobRunner(Protocol):
    """Runs jobs somewhere else than the request; a Redis/RQ runner could implement this."""

    def submit(self, kind: str, night_id: int | None, function: JobFunction) -> str:
        """Record a queued job, start it, and return its id."""
        ...

    def shutdown(self) -> None:
        """Stop accepting jobs and wait for running ones."""
        ...


Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


class InProcessJobRunner:
    """Threads in this process: nothing to install. Jobs are lost if the process stops.

    ``clock``: the service's clock (`api.core.clock`); a job's ``created_at`` and
    ``finished_at`` are read from it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        workers: int = 1,
        clock: Clock = _system_clock,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, night_id: int | None, function: JobFunction) -> str:
        job_id = str(uuid.uuid4())
        with self._session_factory() as session:
            session.add(
                Job(
                    id=job_id,
                    kind=kind,
                    night_id=night_id,
                    status="queued",
                    created_at=self._clock(),
                )
            )
            session.commit()
        future = self._pool.submit(self._run, job_id, function)
        with self._lock:
            self._futures[job_id] = future
        return job_id

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until ``job_id`` has finished (tests and the CLI use this)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def _run(self, job_id: str, function: JobFunction) -> None:
        self._set(job_id, status="running")
        try:
            result = function(JobContext(job_id, self._session_factory))
        except Exception as error:  # a failed job is reported, never raised into the pool
            logger.warning("job %s failed: %s", job_id, type(error).__name__)
            message = str(error) if getattr(error, "public", False) else type(error).__name__
            self._set(job_id, status="failed", error=message, finished_at=self._clock())
        else:
            self._set(job_id, status="succeeded", result=result, finished_at=self._clock())

    def _set(self, job_id: str, **values: Any) -> None:
        with self._session_factory() as session:
            job = session.get(Job, job_id)
            if job is not None:
                for name, value in values.items():
                    setattr(job, name, value)
                session.commit()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def fail_interrupted_jobs(
    session_factory: sessionmaker[Session], *, clock: Clock = _system_clock
) -> int:
    """Mark jobs left queued or running by a stopped process as failed (finished at
    ``clock``'s now, the service's clock); returns how many."""
    from sqlalchemy import update

    with session_factory() as session:
        result = session.execute(
            update(Job)
            .where(Job.status.in_(("queued", "running")))
            .values(
                status="failed",
                error="interrupted: the service restarted",
                finished_at=clock(),
            )
        )
        session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
