"""Vector spaces (``findimage reindex``): the generations of vectors, each a CLIP model and
its collection, and which space each taste signal's vector is in.

Existing signals get no space; the first process to start records the existing
collection as the first (active) space and claims them for it (``core.spaces``).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vectorspace',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('pretrained', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('collection', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('state', sa.Enum('building', 'active', 'retired', 'failed', name='spacestate'), nullable=False),
    sa.Column('cursor', sa.Integer(), nullable=False),
    sa.Column('last_image_id', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('switched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('collection')
    )
    with op.batch_alter_table('vectorspace', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vectorspace_state'), ['state'], unique=False)

    with op.batch_alter_table('signal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('space_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_signal_space_id'), ['space_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signal_space_id'))
        batch_op.drop_column('space_id')

    with op.batch_alter_table('vectorspace', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vectorspace_state'))

    op.drop_table('vectorspace')
    sa.Enum(name='spacestate').drop(op.get_bind(), checkfirst=True)
