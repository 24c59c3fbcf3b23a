"""dispatch tables, reporter locale, deadline indexes

Revision ID: d841e62ef704
Revises: 74e307fff245
Create Date: 2026-11-22 08:24:01.798136

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd841e62ef704'
down_revision = '74e307fff245'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sla_policy',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('triage_seconds', sa.Integer(), nullable=True),
    sa.Column('urgent_contact_seconds', sa.Integer(), nullable=True),
    sa.Column('urgent_on_site_seconds', sa.Integer(), nullable=True),
    sa.Column('general_on_site_seconds', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_sla_policy_community_id_community')),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_sla_policy'))
    )
    op.create_table('route',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('building_id', sa.Integer(), nullable=True),
    sa.Column('primary_contractor_id', sa.Integer(), nullable=False),
    sa.Column('backup_contractor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['backup_contractor_id'], ['contractor.id'], name=op.f('fk_route_backup_contractor_id_contractor')),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_route_building_id_building')),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_route_category_id_category')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_route_community_id_community')),
    sa.ForeignKeyConstraint(['primary_contractor_id'], ['contractor.id'], name=op.f('fk_route_primary_contractor_id_contractor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route'))
    )
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_route_community_id'), ['community_id'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('contractor_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractor.id'], name=op.f('fk_assignment_contractor_id_contractor')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_assignment_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment'))
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('sla_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('clock', sa.String(length=16), nullable=False),
    sa.Column('rung', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_sla_step_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_step')),
    sa.UniqueConstraint('ticket_id', 'clock', 'rung', 'due_at', name='uq_sla_step')
    )
    with op.batch_alter_table('sla_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_step_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('recipient_type', sa.String(length=16), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('to_phone', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True),
    sa.Column('provider_status', sa.String(length=32), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['ticket_event.id'], name=op.f('fk_outbox_message_event_id_ticket_event')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_outbox_message_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_message_dedupe_key'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index('ix_outbox_pending', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reporter_locale', sa.String(length=8), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_contact_due_at'), ['contact_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_on_site_due_at'), ['on_site_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_triage_due_at'), ['triage_due_at'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_triage_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_on_site_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_contact_due_at'))
        batch_op.drop_column('reporter_locale')

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_outbox_message_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_provider_id'))

    op.drop_table('outbox_message')
    with op.batch_alter_table('sla_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_step_ticket_id'))

    op.drop_table('sla_step')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_ticket_id'))

    op.drop_table('assignment')
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_route_community_id'))

    op.drop_table('route')
    op.drop_table('sla_policy')
