"""A visit the planner moved out of the plan stays out of re-plans (red team F07)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

``visits.held_by_planner``: set when the planner moves a visit out of the plan (``nurse``
null), cleared when she moves it onto a route. The next live re-plan put such a visit
straight back. Additive: existing visits are not held.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.add_column(
            sa.Column(
                'held_by_planner', sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.drop_column('held_by_planner')
