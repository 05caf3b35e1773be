"""A phone's clock offset, stored with each of its events (red team R04)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

``phone_events.clock_offset_seconds``: the server's receipt time minus the batch's
``sent_at`` (the phone's clock), when believed (`api.night.device_time`), added to the
event's ``device_time`` wherever it is used. A phone 40 minutes slow had its care stored as
begun before the call it answered. Additive and nullable: events stored before are used as
sent, clamped as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phone_events') as batch:
        batch.add_column(sa.Column('clock_offset_seconds', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('phone_events') as batch:
        batch.drop_column('clock_offset_seconds')
