"""What each Slack channel asked of the bot (``channel_setting``: the repost notice).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_setting",
        sa.Column("team", sa.String(length=32), primary_key=True),
        sa.Column("channel", sa.String(length=32), primary_key=True),
        sa.Column("reposts", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_setting")
