"""Image.slack_public: whether the Slack channel was public when the image was shared
(who may see it; issue 6).

Slack images added before it have none, so they count as private to their channel
(``core.access``): nobody sees more than before. Their vectors were written without the
``audience`` payload, which search filters on, so they are found by no one until indexed
again: ``findimage reindex`` (with the same model) writes every payload afresh.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.add_column(sa.Column("slack_public", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.drop_column("slack_public")
