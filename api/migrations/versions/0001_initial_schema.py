"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('regions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('base_lat', sa.Float(), nullable=False),
    sa.Column('base_lon', sa.Float(), nullable=False),
    sa.Column('night_start', sa.String(length=5), nullable=False),
    sa.Column('night_end', sa.String(length=5), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regions')),
    sa.UniqueConstraint('name', name=op.f('uq_regions_name'))
    )
    op.create_table('nights',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('night_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_nights_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nights')),
    sa.UniqueConstraint('region_id', 'night_date', name=op.f('uq_nights_region_id'))
    )
    op.create_table('nurses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('profile', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_nurses_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nurses')),
    sa.UniqueConstraint('code', name=op.f('uq_nurses_code'))
    )
    with op.batch_alter_table('nurses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nurses_region_id'), ['region_id'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_organisations_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', name=op.f('uq_organisations_name'))
    )
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisations_region_id'), ['region_id'], unique=False)

    op.create_table('clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=True),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('access_instructions', sa.Text(), nullable=False),
    sa.Column('key_safe_present', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_clients_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clients')),
    sa.UniqueConstraint('organisation_id', 'external_ref', name=op.f('uq_clients_organisation_id'))
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clients_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_idempotency_records_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('organisation_id', 'key', name=op.f('uq_idempotency_records_organisation_id'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('night_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['night_id'], ['nights.id'], name=op.f('fk_jobs_night_id_nights')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_table('route_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night_id', sa.Integer(), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['night_id'], ['nights.id'], name=op.f('fk_route_versions_night_id_nights')),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurses.id'], name=op.f('fk_route_versions_nurse_id_nurses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_versions')),
    sa.UniqueConstraint('night_id', 'nurse_id', 'version', name=op.f('uq_route_versions_night_id'))
    )
    with op.batch_alter_table('route_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_route_versions_night_id'), ['night_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_route_versions_nurse_id'), ['nurse_id'], unique=False)

    op.create_table('shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=False),
    sa.Column('night_date', sa.Date(), nullable=False),
    sa.Column('start', sa.String(length=5), nullable=False),
    sa.Column('end', sa.String(length=5), nullable=False),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurses.id'], name=op.f('fk_shifts_nurse_id_nurses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts')),
    sa.UniqueConstraint('nurse_id', 'night_date', name=op.f('uq_shifts_nurse_id'))
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shifts_night_date'), ['night_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_shifts_nurse_id'), ['nurse_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('nurse_id', sa.Integer(), nullable=True),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurses.id'], name=op.f('fk_users_nurse_id_nurses')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('responsible_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_api_keys_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['responsible_user_id'], ['users.id'], name=op.f('fk_api_keys_responsible_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('plan_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_plan_versions_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['night_id'], ['nights.id'], name=op.f('fk_plan_versions_night_id_nights')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_versions')),
    sa.UniqueConstraint('night_id', 'version', name=op.f('uq_plan_versions_night_id'))
    )
    with op.batch_alter_table('plan_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_versions_night_id'), ['night_id'], unique=False)

    op.create_table('visit_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('care_task', sa.String(length=32), nullable=False),
    sa.Column('first_night', sa.Date(), nullable=False),
    sa.Column('window_start', sa.String(length=5), nullable=True),
    sa.Column('window_end', sa.String(length=5), nullable=True),
    sa.Column('call_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('service_minutes', sa.Integer(), nullable=False),
    sa.Column('required_skills', sa.JSON(), nullable=False),
    sa.Column('nurses_needed', sa.Integer(), nullable=False),
    sa.Column('recurrence', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_visit_requests_client_id_clients')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_visit_requests_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_requests'))
    )
    with op.batch_alter_table('visit_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_requests_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_requests_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('client_organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('responsible_user_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('acting_organisation_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['acting_organisation_id'], ['organisations.id'], name=op.f('fk_access_log_acting_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_access_log_api_key_id_api_keys')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_access_log_client_id_clients')),
    sa.ForeignKeyConstraint(['client_organisation_id'], ['organisations.id'], name=op.f('fk_access_log_client_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['responsible_user_id'], ['users.id'], name=op.f('fk_access_log_responsible_user_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_access_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_client_id'), ['client_id'], unique=False)
        batch_op.create_index('ix_access_log_org_at', ['client_organisation_id', 'at'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('window_start', sa.Integer(), nullable=True),
    sa.Column('window_end', sa.Integer(), nullable=True),
    sa.Column('call_time', sa.Integer(), nullable=True),
    sa.Column('service_seconds', sa.Integer(), nullable=False),
    sa.Column('required_skills', sa.JSON(), nullable=False),
    sa.Column('nurses_needed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('pin_nurse_id', sa.Integer(), nullable=True),
    sa.Column('pin_position', sa.Integer(), nullable=True),
    sa.Column('done_by_nurse_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_visits_client_id_clients')),
    sa.ForeignKeyConstraint(['done_by_nurse_id'], ['nurses.id'], name=op.f('fk_visits_done_by_nurse_id_nurses')),
    sa.ForeignKeyConstraint(['night_id'], ['nights.id'], name=op.f('fk_visits_night_id_nights')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_visits_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['pin_nurse_id'], ['nurses.id'], name=op.f('fk_visits_pin_nurse_id_nurses')),
    sa.ForeignKeyConstraint(['request_id'], ['visit_requests.id'], name=op.f('fk_visits_request_id_visit_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('request_id', 'night_id', name=op.f('uq_visits_request_id'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_night_id'), ['night_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_request_id'), ['request_id'], unique=False)

    op.create_table('night_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('night_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('delay_minutes', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['night_id'], ['nights.id'], name=op.f('fk_night_events_night_id_nights')),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurses.id'], name=op.f('fk_night_events_nurse_id_nurses')),
    sa.ForeignKeyConstraint(['recorded_by_user_id'], ['users.id'], name=op.f('fk_night_events_recorded_by_user_id_users')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_night_events_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_night_events'))
    )
    with op.batch_alter_table('night_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_night_events_night_id'), ['night_id'], unique=False)

    # NEN 7513: the access log is append-only. PostgreSQL enforces it; SQLite has no
    # equivalent we can rely on, so there the repository layer offers no update or delete.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION access_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'access_log is append-only (NEN 7513)';
            END;
            $$ LANGUAGE plpgsql;
            """
        )
        op.execute(
            """
            CREATE TRIGGER access_log_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON access_log
            FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS access_log_append_only ON access_log")
        op.execute("DROP FUNCTION IF EXISTS access_log_append_only()")

    with op.batch_alter_table('night_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_night_events_night_id'))

    op.drop_table('night_events')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_request_id'))
        batch_op.drop_index(batch_op.f('ix_visits_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_visits_night_id'))

    op.drop_table('visits')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index('ix_access_log_org_at')
        batch_op.drop_index(batch_op.f('ix_access_log_client_id'))

    op.drop_table('access_log')
    with op.batch_alter_table('visit_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_requests_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_visit_requests_client_id'))

    op.drop_table('visit_requests')
    with op.batch_alter_table('plan_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_versions_night_id'))

    op.drop_table('plan_versions')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_organisation_id'))

    op.drop_table('api_keys')
    op.drop_table('users')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_nurse_id'))
        batch_op.drop_index(batch_op.f('ix_shifts_night_date'))

    op.drop_table('shifts')
    with op.batch_alter_table('route_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_route_versions_nurse_id'))
        batch_op.drop_index(batch_op.f('ix_route_versions_night_id'))

    op.drop_table('route_versions')
    op.drop_table('jobs')
    op.drop_table('idempotency_records')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clients_organisation_id'))

    op.drop_table('clients')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_region_id'))

    op.drop_table('organisations')
    with op.batch_alter_table('nurses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nurses_region_id'))

    op.drop_table('nurses')
    op.drop_table('nights')
    op.drop_table('regions')

