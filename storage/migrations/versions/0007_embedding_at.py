"""embedding_at: when a request's vector was last re-learned from its confirmed phrasings

Revision ID: 0007_embedding_at
Revises: 0006_threshold_currency
Create Date: 2026-11-23 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_embedding_at"
down_revision = "0006_threshold_currency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feature_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("embedding_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_feature_request_embedding_at", ["embedding_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feature_request", schema=None) as batch_op:
        batch_op.drop_index("ix_feature_request_embedding_at")
        batch_op.drop_column("embedding_at")
