"""Why a visit was cancelled: no longer needed, or handed to the back-up (red team R23-07)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

``visits.cancel_reason``: a call the team accepted and the partner then handed to the back-up
partner (the team could not be there in time) vanished from the partner's month report, as
every cancelled visit is skipped there; a call no longer needed must stay skipped. Additive
and nullable: visits cancelled before read as no longer needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.add_column(sa.Column('cancel_reason', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.drop_column('cancel_reason')
