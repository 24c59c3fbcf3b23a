"""common areas: places of a community in no building, with their own routes

Every place (table entrance) gets its community (filled in from its building),
a kind ("entrance" or "common_area") and a retirement time; its building becomes
optional. A route may name one place.

On SQLite, making building_id nullable means rebuilding the entrance table, which
tickets, codes, lifts and places refer to. The rebuild keeps every row and id:
the rows are copied aside, deleted (the foreign keys' checks deferred to the
commit), the table created anew and the rows put back, which settles the
deferred checks before the commit.

Downgrade keeps every common area, its codes and its tickets: each community's
common areas move into a building of their own, "公共区域", and a route naming a
place names that place's building instead.

Revision ID: 76ffd786ed18
Revises: f1a7c3e9b5d2
Create Date: 2026-11-26 08:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '76ffd786ed18'
down_revision = 'f1a7c3e9b5d2'
branch_labels = None
depends_on = None

COLUMNS_BEFORE = 'id, building_id, name, name_en, sort_order, code'

ENTRANCE_AFTER = """CREATE TABLE entrance (
    id INTEGER NOT NULL,
    community_id INTEGER NOT NULL,
    kind VARCHAR(16) DEFAULT 'entrance' NOT NULL,
    building_id INTEGER,
    name VARCHAR(64) NOT NULL,
    name_en VARCHAR(64),
    sort_order INTEGER NOT NULL,
    code VARCHAR(16) NOT NULL,
    retired_at DATETIME,
    CONSTRAINT pk_entrance PRIMARY KEY (id),
    CONSTRAINT fk_entrance_community_id_community FOREIGN KEY(community_id) REFERENCES community (id),
    CONSTRAINT fk_entrance_building_id_building FOREIGN KEY(building_id) REFERENCES building (id),
    CONSTRAINT uq_entrance_code UNIQUE (code)
)"""

ENTRANCE_BEFORE = """CREATE TABLE entrance (
    id INTEGER NOT NULL,
    building_id INTEGER NOT NULL,
    name VARCHAR(64) NOT NULL,
    name_en VARCHAR(64),
    sort_order INTEGER NOT NULL,
    code VARCHAR(16) NOT NULL,
    CONSTRAINT pk_entrance PRIMARY KEY (id),
    CONSTRAINT fk_entrance_building_id_building FOREIGN KEY(building_id) REFERENCES building (id),
    CONSTRAINT uq_entrance_code UNIQUE (code)
)"""


def _sqlite_rebuild(create: str, columns: str, select: str, indexes) -> None:
    """Rebuilds SQLite's entrance table in place, ids and referring rows kept."""
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute(f'CREATE TABLE _entrance_rows AS {select}')
    # The referring rows point at no entrance from here until the rows are put
    # back below: deferred checks, settled again by the INSERT.
    op.execute('DELETE FROM entrance')
    op.execute('DROP INDEX IF EXISTS ix_entrance_building_id')
    op.execute('DROP TABLE entrance')
    op.execute(create)
    op.execute(f'INSERT INTO entrance ({columns}) SELECT {columns} FROM _entrance_rows')
    op.execute('DROP TABLE _entrance_rows')
    for name, column in indexes:
        op.execute(f'CREATE INDEX {name} ON entrance ({column})')


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        after = COLUMNS_BEFORE + ', community_id, kind, retired_at'
        _sqlite_rebuild(
            ENTRANCE_AFTER,
            after,
            f'SELECT entrance.{COLUMNS_BEFORE.replace(", ", ", entrance.")}, '
            'building.community_id AS community_id, '
            "'entrance' AS kind, NULL AS retired_at "
            'FROM entrance JOIN building ON building.id = entrance.building_id',
            [
                ('ix_entrance_building_id', 'building_id'),
                ('ix_entrance_community_id', 'community_id'),
            ],
        )
        # Plain ADD COLUMN: route is small, but ADD COLUMN needs no copy at all.
        op.execute('ALTER TABLE route ADD COLUMN entrance_id INTEGER '
                   'CONSTRAINT fk_route_entrance_id_entrance REFERENCES entrance (id)')
        return

    op.add_column('entrance', sa.Column('community_id', sa.Integer(), nullable=True))
    op.add_column('entrance', sa.Column('kind', sa.String(length=16), server_default='entrance', nullable=False))
    op.add_column('entrance', sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        'UPDATE entrance SET community_id = building.community_id '
        'FROM building WHERE building.id = entrance.building_id'
    )
    op.alter_column('entrance', 'community_id', existing_type=sa.Integer(), nullable=False)
    op.alter_column('entrance', 'building_id', existing_type=sa.Integer(), nullable=True)
    op.create_foreign_key(op.f('fk_entrance_community_id_community'), 'entrance', 'community', ['community_id'], ['id'])
    op.create_index(op.f('ix_entrance_community_id'), 'entrance', ['community_id'], unique=False)
    op.add_column('route', sa.Column('entrance_id', sa.Integer(), sa.ForeignKey('entrance.id', name=op.f('fk_route_entrance_id_entrance')), nullable=True))


def _common_areas_into_buildings() -> None:
    """Gives each community's common areas a building of their own, and each route
    naming a place that place's building."""
    bind = op.get_bind()
    communities = bind.execute(sa.text(
        "SELECT DISTINCT community_id FROM entrance WHERE building_id IS NULL"
    )).scalars().all()
    for community_id in communities:
        position = bind.execute(sa.text(
            'SELECT COALESCE(MAX(sort_order), 0) + 1 FROM building '
            'WHERE community_id = :c'
        ), {'c': community_id}).scalar()
        # An explicit id (the sequence may lag rows written with their ids).
        building_id = bind.execute(sa.text(
            'SELECT COALESCE(MAX(id), 0) + 1 FROM building'
        )).scalar()
        bind.execute(sa.text(
            'INSERT INTO building (id, community_id, name, name_en, sort_order) '
            "VALUES (:b, :c, '公共区域', 'Common areas', :p)"
        ), {'b': building_id, 'c': community_id, 'p': position})
        if bind.dialect.name == 'postgresql':
            bind.execute(sa.text(
                "SELECT setval(pg_get_serial_sequence('building', 'id'), "
                '(SELECT MAX(id) FROM building))'
            ))
        bind.execute(sa.text(
            'UPDATE entrance SET building_id = :b '
            'WHERE community_id = :c AND building_id IS NULL'
        ), {'b': building_id, 'c': community_id})
    bind.execute(sa.text(
        'UPDATE route SET building_id = (SELECT entrance.building_id FROM entrance '
        'WHERE entrance.id = route.entrance_id) WHERE entrance_id IS NOT NULL'
    ))


def downgrade():
    _common_areas_into_buildings()
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        # route refers to nothing else and nothing refers to it: a batch copy is safe.
        with op.batch_alter_table('route', schema=None) as batch_op:
            batch_op.drop_column('entrance_id')
        op.execute('DROP INDEX IF EXISTS ix_entrance_community_id')
        _sqlite_rebuild(
            ENTRANCE_BEFORE,
            COLUMNS_BEFORE,
            f'SELECT {COLUMNS_BEFORE} FROM entrance',
            [('ix_entrance_building_id', 'building_id')],
        )
        return

    op.drop_constraint(op.f('fk_route_entrance_id_entrance'), 'route', type_='foreignkey')
    op.drop_column('route', 'entrance_id')
    op.drop_index(op.f('ix_entrance_community_id'), table_name='entrance')
    op.drop_constraint(op.f('fk_entrance_community_id_community'), 'entrance', type_='foreignkey')
    op.alter_column('entrance', 'building_id', existing_type=sa.Integer(), nullable=False)
    op.drop_column('entrance', 'retired_at')
    op.drop_column('entrance', 'kind')
    op.drop_column('entrance', 'community_id')
