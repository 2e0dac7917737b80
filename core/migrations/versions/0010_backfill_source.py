"""A backfill reads the conversation's messages (their text becomes captions) or its files:
``slack_backfill.source``, the history ``cursor`` and whether the channel is ``public``.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_backfill") as table:
        table.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="files"))
        table.add_column(sa.Column("cursor", sa.String(length=512), nullable=True))
        table.add_column(sa.Column("public", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_backfill") as table:
        table.drop_column("public")
        table.drop_column("cursor")
        table.drop_column("source")
