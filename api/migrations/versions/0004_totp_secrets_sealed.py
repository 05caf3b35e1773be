"""TOTP secrets sealed with the keyring (AES-256-GCM, api.totp_vault); wider column

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Existing plaintext secrets are sealed on the way up (and opened again on the way down) with
the service's keyring from the environment (``NACHTROUTE_KEYSAFE_KEYS``, or outside
production the development key of ``NACHTROUTE_SECRET_KEY``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from api.keysafe import Keyring

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_users = sa.table(
    'users', sa.column('id', sa.Integer()), sa.column('totp_secret', sa.String(255))
)


def _rows() -> list[tuple[int, str]]:
    found = op.get_bind().execute(
        sa.select(_users.c.id, _users.c.totp_secret).where(_users.c.totp_secret.is_not(None))
    )
    return [(int(row[0]), str(row[1])) for row in found]


def _keyring() -> Keyring:
    from api.core.config import Settings
    from api.totp_vault import keyring_for

    return keyring_for(Settings())


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.alter_column(
            'totp_secret', existing_type=sa.String(64), type_=sa.String(255), existing_nullable=True
        )
    from api.totp_vault import is_sealed, seal

    rows = [(uid, secret) for uid, secret in _rows() if not is_sealed(secret)]
    if not rows:
        return
    keyring = _keyring()
    for uid, secret in rows:
        op.execute(
            _users.update()
            .where(_users.c.id == uid)
            .values(totp_secret=seal(secret, user_id=uid, keyring=keyring))
        )


def downgrade() -> None:
    from api.totp_vault import is_sealed, unseal

    rows = [(uid, secret) for uid, secret in _rows() if is_sealed(secret)]
    if rows:
        keyring = _keyring()
        for uid, secret in rows:
            plain = unseal(secret, user_id=uid, keyring=keyring)
            if plain is None:
                raise RuntimeError(f"the TOTP secret of user {uid} does not open: keys missing")
            op.execute(_users.update().where(_users.c.id == uid).values(totp_secret=plain))
    with op.batch_alter_table('users') as batch:
        batch.alter_column(
            'totp_secret', existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True
        )
