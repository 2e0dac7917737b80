"""A taste's vector space as a column of its own (it was a field of its JSON state).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("taste", sa.Column("space_id", sa.Integer(), nullable=True))
    taste = sa.table("taste", sa.column("user_id", sa.Integer()), sa.column("state", sa.JSON()),
                     sa.column("space_id", sa.Integer()))
    connection = op.get_bind()
    for user_id, state in connection.execute(sa.select(taste.c.user_id, taste.c.state)).all():
        space = (state or {}).pop("space", None)
        connection.execute(taste.update().where(taste.c.user_id == user_id).values(space_id=space, state=state))


def downgrade() -> None:
    op.drop_column("taste", "space_id")
