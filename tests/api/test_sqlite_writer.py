"""SQLite writers queue on one lock of the process (`api.db.sqlite_writer`): every write
transaction gets it and gives it back however it ends, also when it begins in one thread
and ends in another (FastAPI runs a request's dependencies on pool threads)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from api.db.engine import make_engine, make_session_factory


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'w.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def _in_thread(work, bound: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # reported to the test below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(bound)  # bounds a hang only; nothing is asserted about how long it took
    assert not thread.is_alive(), "a writer waited for a lock nobody gives back"
    assert not errors, errors


def test_writers_queue_and_every_ending_gives_the_lock_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    sessions = make_session_factory(engine)

    # Ended by commit, by rollback, by closing the session without either.
    with sessions() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.commit()
    with sessions() as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        session.rollback()
    session = sessions()
    session.execute(text("INSERT INTO t VALUES (3)"))
    session.close()

    # Begun in one thread, committed in another.
    handed = sessions()
    _in_thread(lambda: handed.execute(text("INSERT INTO t VALUES (4)")))
    _in_thread(handed.commit)
    handed.close()

    def many() -> None:
        for number in range(20):
            with sessions() as mine:
                mine.execute(text("INSERT INTO t VALUES (:n)"), {"n": 100 + number})
                mine.commit()

    threads = [threading.Thread(target=many) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    _in_thread(lambda: many())
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM t")).scalar_one()
    assert count == 2 + 7 * 20  # 1 and 4, then seven writers of 20 rows each
    engine.dispose()
