"""places, categories, contractors, users, tickets, events, photos

Revision ID: 74e307fff245
Revises: 
Create Date: 2026-11-22 08:12:17.471467

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '74e307fff245'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category')),
    sa.UniqueConstraint('slug', name=op.f('uq_category_slug'))
    )
    op.create_table('community',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=True),
    sa.Column('ticket_prefix', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('service_phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community')),
    sa.UniqueConstraint('slug', name=op.f('uq_community_slug'))
    )
    op.create_table('contractor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('contact_name', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contractor'))
    )
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.Enum('officer', 'supervisor', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('username', name=op.f('uq_user_username'))
    )
    op.create_table('building',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_building_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_building'))
    )
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_community_id'), ['community_id'], unique=False)

    op.create_table('ticket_counter',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_ticket_counter_community_id_community')),
    sa.PrimaryKeyConstraint('community_id', 'day', name=op.f('pk_ticket_counter'))
    )
    op.create_table('user_community',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_user_community_community_id_community')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_community_user_id_user')),
    sa.PrimaryKeyConstraint('user_id', 'community_id', name=op.f('pk_user_community'))
    )
    op.create_table('entrance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_entrance_building_id_building')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entrance')),
    sa.UniqueConstraint('code', name=op.f('uq_entrance_code'))
    )
    with op.batch_alter_table('entrance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entrance_building_id'), ['building_id'], unique=False)

    op.create_table('entrance_code',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('entrance_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entrance_id'], ['entrance.id'], name=op.f('fk_entrance_code_entrance_id_entrance')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_entrance_code'))
    )
    with op.batch_alter_table('entrance_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entrance_code_entrance_id'), ['entrance_id'], unique=False)

    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('entrance_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('spot', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('reporter_name', sa.String(length=64), nullable=True),
    sa.Column('reporter_phone', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.Enum('qr', 'phone', 'walk_in', 'board', 'job_link', 'sms', 'system', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('new', 'dispatched', 'accepted', 'on_site', 'completed', 'closed', 'rejected', 'duplicate', name='ticketstatus', native_enum=False, length=16), nullable=False),
    sa.Column('urgency', sa.Enum('urgent', 'general', name='urgency', native_enum=False, length=16), nullable=True),
    sa.Column('urgency_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('classification', sa.JSON(), nullable=True),
    sa.Column('contractor_id', sa.Integer(), nullable=True),
    sa.Column('submission_key', sa.String(length=64), nullable=True),
    sa.Column('resident_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('triage_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contact_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_site_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_site_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by_name', sa.String(length=64), nullable=True),
    sa.Column('completion_note', sa.Text(), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_ticket_category_id_category')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_ticket_community_id_community')),
    sa.ForeignKeyConstraint(['contractor_id'], ['contractor.id'], name=op.f('fk_ticket_contractor_id_contractor')),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['ticket.id'], name=op.f('fk_ticket_duplicate_of_id_ticket')),
    sa.ForeignKeyConstraint(['entrance_id'], ['entrance.id'], name=op.f('fk_ticket_entrance_id_entrance')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('number', name=op.f('uq_ticket_number')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_ticket_submission_key'))
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_status'), ['status'], unique=False)

    op.create_table('photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_photo_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo'))
    )
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.Enum('new', 'dispatched', 'accepted', 'on_site', 'completed', 'closed', 'rejected', 'duplicate', name='ticketstatus', native_enum=False, length=16), nullable=True),
    sa.Column('to_status', sa.Enum('new', 'dispatched', 'accepted', 'on_site', 'completed', 'closed', 'rejected', 'duplicate', name='ticketstatus', native_enum=False, length=16), nullable=True),
    sa.Column('actor_type', sa.Enum('resident', 'officer', 'contractor', 'system', name='actortype', native_enum=False, length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=True),
    sa.Column('channel', sa.Enum('qr', 'phone', 'walk_in', 'board', 'job_link', 'sms', 'system', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_event_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_event'))
    )
    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_event_ticket_id'), ['ticket_id'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_event_ticket_id'))

    op.drop_table('ticket_event')
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_photo_sha256'))

    op.drop_table('photo')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_status'))
        batch_op.drop_index(batch_op.f('ix_ticket_community_id'))

    op.drop_table('ticket')
    with op.batch_alter_table('entrance_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entrance_code_entrance_id'))

    op.drop_table('entrance_code')
    with op.batch_alter_table('entrance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entrance_building_id'))

    op.drop_table('entrance')
    op.drop_table('user_community')
    op.drop_table('ticket_counter')
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_community_id'))

    op.drop_table('building')
    op.drop_table('user')
    op.drop_table('contractor')
    op.drop_table('community')
    op.drop_table('category')
