"""Linked visit requests: "check 60-90 min after" another request (issue 13)

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-29

A request may start ``after_min_minutes``..``after_max_minutes`` after the visit of
``after_request_id`` on the same night starts, by a different or the same nurse
(``after_nurse``: any, different, same). Additive: existing requests have no link.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visit_requests') as batch:
        batch.add_column(sa.Column('after_request_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('after_min_minutes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('after_max_minutes', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('after_nurse', sa.String(16), nullable=True))
        batch.create_foreign_key(
            'fk_visit_requests_after_request_id', 'visit_requests', ['after_request_id'], ['id']
        )
        batch.create_index('ix_visit_requests_after_request_id', ['after_request_id'])


def downgrade() -> None:
    with op.batch_alter_table('visit_requests') as batch:
        batch.drop_index('ix_visit_requests_after_request_id')
        batch.drop_constraint('fk_visit_requests_after_request_id', type_='foreignkey')
        batch.drop_column('after_nurse')
        batch.drop_column('after_max_minutes')
        batch.drop_column('after_min_minutes')
        batch.drop_column('after_request_id')
