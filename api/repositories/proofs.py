"""DPoP proofs used once (RFC 9449 section 11.1): a proof's ``jti`` is stored per phone key
until the proof would be stale anyway; storing it again means a replay.

One round trip per request: the INSERT is the check (the primary key refuses a second
row). Expired rows are swept now and then (one request in 256, chosen by the ``jti``), in
the same transaction. The commit does not wait for the disk
(`api.db.engine.commit_without_waiting_for_disk`): it is one per phone request, and on
SQLite every writer queued behind its flush. A record lost to a power cut could let a
proof captured in that last fraction of a second be replayed within its minute; a crash of
the service loses none.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db.engine import commit_without_waiting_for_disk
from api.db.phone_models import UsedProof

__all__ = ["use_once"]


#: The proof's row, the statement built once (every phone request writes one), on the table:
#: the ORM's insert of a mapped class took its bulk-insert path, about a millisecond of CPU
#: per phone request under the load bench (session 20).
_RECORD = insert(cast(Table, UsedProof.__table__))


def use_once(session: Session, *, jkt: str, jti: str, expires_at: datetime, now: datetime) -> bool:
    """Record the proof ``jti`` of key ``jkt`` and commit; False when it was used before.

    Call it with nothing else pending in ``session`` (it commits, or rolls back a replay).
    """
    try:
        commit_without_waiting_for_disk(session)
        if hashlib.sha256(jti.encode()).digest()[0] == 0:
            session.execute(delete(UsedProof).where(UsedProof.expires_at < now))
        session.execute(_RECORD, {"jkt": jkt, "jti": jti, "expires_at": expires_at})
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
