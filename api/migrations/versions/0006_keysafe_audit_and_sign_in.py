"""Key-safe refusals of no client in the access log; sign-in throttle; TOTP codes used once

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

- ``access_log``: ``client_id`` and ``client_organisation_id`` may be empty (a key-safe
  refusal for an unknown visit, or for a caller of the wrong role, names no client), and
  the key-safe columns ``device_id``, ``visit_id`` and ``key_id``.
- ``users.totp_last_step``: the last accepted TOTP time step (a code is accepted once).
- ``sign_in_throttle``: failed sign-ins per account and per address (keys are keyed hashes,
  never a username or an address), shared by every server process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = ("UPDATE", "DELETE")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_sqlite_triggers() -> None:
    for action in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS access_log_no_{action.lower()}")


def _create_sqlite_triggers() -> None:
    # As in 0002: the batch copy of the table drops them, so they come back here.
    for action in _SQLITE_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER access_log_no_{action.lower()} BEFORE {action} ON access_log "
            "BEGIN SELECT RAISE(ABORT, 'access_log is append-only (NEN 7513)'); END"
        )


def upgrade() -> None:
    if _sqlite():
        _drop_sqlite_triggers()
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("client_organisation_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("device_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("visit_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    if _sqlite():
        _create_sqlite_triggers()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
    if _sqlite():
        _drop_sqlite_triggers()
    # Rows of no client cannot go back under NOT NULL: the log is append-only, so the
    # downgrade then fails rather than delete them.
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("visit_id")
        batch_op.drop_column("device_id")
        batch_op.alter_column("client_organisation_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("client_id", existing_type=sa.Integer(), nullable=False)
    if _sqlite():
        _create_sqlite_triggers()
