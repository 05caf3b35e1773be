"""From when an organisation shares the team's fixed cost (red team R22-03)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

``organisations.member_since``: an organisation added in the afternoon of the 25th took a
third of November's fixed part, nights before it existed included, so a closed month's report
changed after partners had read it. The month report splits each night's fixed part over the
organisations that were members when it started. Additive and nullable: organisations made
before (and the seeded ones) count as partners from the start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisations') as batch:
        batch.add_column(sa.Column('member_since', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organisations') as batch:
        batch.drop_column('member_since')
