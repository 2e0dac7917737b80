"""An index for the feed's exclusions: ``impression (user_id, shown_at, image_id)``, a
user's latest impressions read in order from the index alone instead of sorting all of
them (18 ms -> 5 ms for a user with 6,700 impressions, SQLite, on every feed page). It
replaces the index on ``shown_at`` alone: every read of it is one user's, and each feed
page's impressions would keep both up to date.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_impression_user_shown_at", "impression", ["user_id", "shown_at", "image_id"])
    op.drop_index("ix_impression_shown_at", table_name="impression")


def downgrade() -> None:
    op.create_index("ix_impression_shown_at", "impression", ["shown_at"])
    op.drop_index("ix_impression_user_shown_at", table_name="impression")
