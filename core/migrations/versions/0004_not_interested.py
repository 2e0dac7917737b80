""""Not interested": the images a user hid from their feed, and the negative signal kind.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
OLD_KINDS = ("like", "click", "search")


def upgrade() -> None:
    op.create_table('not_interested',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'image_id')
    )
    if op.get_context().dialect.name == "postgresql":  # a native enum type there
        op.execute("ALTER TYPE signalkind ADD VALUE IF NOT EXISTS 'not_interested'")
    else:  # a VARCHAR as long as the longest name: longer now
        with op.batch_alter_table("signal") as batch:
            batch.alter_column("kind", existing_type=sa.Enum(*OLD_KINDS, name="signalkind"),
                               type_=sa.Enum(*OLD_KINDS, "not_interested", name="signalkind"), existing_nullable=False)


def downgrade() -> None:
    op.drop_table('not_interested')
