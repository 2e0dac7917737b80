"""Every Slack message an image was shared in (``image_share``), from the first share of
each Slack image so far.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_share",
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("image.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("team", sa.String(length=32), primary_key=True),
        sa.Column("channel", sa.String(length=32), primary_key=True),
        sa.Column("ts", sa.String(length=32), primary_key=True),
        sa.Column("file_id", sa.String(length=32), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_image_share_channel", "image_share", ["channel"])
    op.create_index("ix_image_share_file_id", "image_share", ["file_id"])
    op.execute(
        "INSERT INTO image_share (image_id, team, channel, ts, file_id, public, created_at) "
        "SELECT id, slack_team, slack_channel, COALESCE(slack_ts, ''), slack_file_id, COALESCE(slack_public, false), "
        "created_at FROM image WHERE slack_team IS NOT NULL AND slack_channel IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("image_share")
