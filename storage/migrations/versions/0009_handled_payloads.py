"""handled_payload: Slack payloads already acted on, so a retry or a double submit acts once

Revision ID: 0009_handled_payloads
Revises: 0008_outbox_leases
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_handled_payloads"
down_revision = "0008_outbox_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handled_payload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("handled_payload", schema=None) as batch_op:
        batch_op.create_index("ix_handled_payload_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handled_payload", schema=None) as batch_op:
        batch_op.drop_index("ix_handled_payload_created_at")
    op.drop_table("handled_payload")
