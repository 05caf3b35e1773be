"""Each phone event keeps its batch's sent_at (red team R22B-01)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

``phone_events.batch_sent_at``: the next batch's clock offset is judged against the phone's
previous batch (a late delivery keeps the previous offset, R21B-08). Judged against that
batch's newest event time only, one batch with a ``sent_at`` two hours ahead of its events
(a clock jump, a forged body) kept its offset on every honest batch of the night, and care
begun at 01:15 was read as begun at 23:15. Additive and nullable: events stored before are
judged by their times as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phone_events') as batch:
        batch.add_column(sa.Column('batch_sent_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('phone_events') as batch:
        batch.drop_column('batch_sent_at')
