"""DPoP one-time proof ids per phone key; the server's receipt time of night events

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29

- ``dpop_used_proofs``: a proof's ``jti`` per key thumbprint until it would be stale anyway,
  so a replayed proof is refused across server processes and restarts (RFC 9449).
- ``night_events.received_at``: when the server recorded the event. ``at`` may be a phone's
  earlier (backdated) time; the key-safe window's anchor uses the server's time. Existing
  rows get their ``at`` (the best known).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dpop_used_proofs',
        sa.Column('jkt', sa.String(43), primary_key=True),
        sa.Column('jti', sa.String(128), primary_key=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_dpop_used_proofs_expires_at', 'dpop_used_proofs', ['expires_at'])
    with op.batch_alter_table('night_events') as batch:
        batch.add_column(sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE night_events SET received_at = at WHERE received_at IS NULL')


def downgrade() -> None:
    with op.batch_alter_table('night_events') as batch:
        batch.drop_column('received_at')
    op.drop_index('ix_dpop_used_proofs_expires_at', table_name='dpop_used_proofs')
    op.drop_table('dpop_used_proofs')
