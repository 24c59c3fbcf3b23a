"""contractor community: the communities each contractor serves

Revision ID: d5e8a1c4b7f3
Revises: e4b7c2a9d1f3
Create Date: 2026-11-26 04:50:00.000000

Each existing contractor is linked to every community where it is already used:
a route names it (primary or backup), it held an assignment of one of the
community's tickets, or it is a ticket's contractor. A contractor used nowhere is
linked only where there is a single community (it can serve no other); with
several, an administrator chooses its communities on its page.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5e8a1c4b7f3'
down_revision = "e4b7c2a9d1f3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'contractor_community',
        sa.Column('contractor_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_contractor_community_community_id_community')),
        sa.ForeignKeyConstraint(['contractor_id'], ['contractor.id'], name=op.f('fk_contractor_community_contractor_id_contractor')),
        sa.PrimaryKeyConstraint('contractor_id', 'community_id', name=op.f('pk_contractor_community')),
    )
    op.execute(
        'INSERT INTO contractor_community (contractor_id, community_id) '
        'SELECT contractor_id, community_id FROM ('
        ' SELECT primary_contractor_id AS contractor_id, community_id FROM route'
        ' UNION SELECT backup_contractor_id, community_id FROM route'
        '  WHERE backup_contractor_id IS NOT NULL'
        ' UNION SELECT assignment.contractor_id, ticket.community_id'
        '  FROM assignment JOIN ticket ON ticket.id = assignment.ticket_id'
        ' UNION SELECT contractor_id, community_id FROM ticket'
        '  WHERE contractor_id IS NOT NULL'
        ') AS used'
    )
    op.execute(
        'INSERT INTO contractor_community (contractor_id, community_id) '
        'SELECT contractor.id, (SELECT min(id) FROM community) FROM contractor '
        'WHERE (SELECT count(*) FROM community) = 1 AND NOT EXISTS ('
        ' SELECT 1 FROM contractor_community AS linked'
        ' WHERE linked.contractor_id = contractor.id)'
    )


def downgrade():
    op.drop_table('contractor_community')
