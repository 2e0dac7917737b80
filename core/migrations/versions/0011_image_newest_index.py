"""An index for the feed's newest images: ``image (status, indexed_at, id)``, read in
order instead of sorting every indexed image (534 ms at 1M images, SQLite).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_image_status_indexed_at", "image", ["status", "indexed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_image_status_indexed_at", table_name="image")
