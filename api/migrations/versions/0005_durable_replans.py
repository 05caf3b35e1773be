"""Durable re-plans: a pending re-plan counter on the night; fallback plans flagged

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

``nights.replan_requested`` is raised in the same transaction that accepts a change (a call,
a report, an amendment); ``nights.replan_done`` is set to the request count a stored re-plan
covered, in the transaction that stores it. ``requested > done`` is a re-plan still owed, and
survives a crash. ``plan_versions.fallback`` names why a plan is the last good plan with the
new calls inserted rather than a solver's answer; ``plan_versions.live`` marks automatic
re-plans (a planner's re-optimise may be laid over them; her hand edits it may not).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nights') as batch:
        batch.add_column(
            sa.Column('replan_requested', sa.Integer(), nullable=False, server_default='0')
        )
        batch.add_column(sa.Column('replan_done', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('replan_reason', sa.String(40), nullable=True))
    with op.batch_alter_table('plan_versions') as batch:
        batch.add_column(sa.Column('fallback', sa.String(200), nullable=True))
        batch.add_column(sa.Column('live', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('plan_versions') as batch:
        batch.drop_column('live')
        batch.drop_column('fallback')
    with op.batch_alter_table('nights') as batch:
        batch.drop_column('replan_reason')
        batch.drop_column('replan_done')
        batch.drop_column('replan_requested')
