"""Tokens issued before a login's deactivation stay refused after it is reactivated (s26)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

``users.tokens_valid_after``: set when an admin deactivates a login; a token issued at or
before it is refused even once the login is active again, so reactivating a login that was
deactivated for a leak does not revive the leaked token (a token lives 15 minutes). Additive
and nullable: no login has refused its tokens by time before; reactivating one deactivated
before this revision sets it then (`api.repositories.accounts.reactivate_user`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('tokens_valid_after', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('tokens_valid_after')
