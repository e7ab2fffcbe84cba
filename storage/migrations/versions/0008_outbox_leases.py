"""outbox leases: a claim token every update must match, a lease per row, the DM channel once known

Revision ID: 0008_outbox_leases
Revises: 0007_embedding_at
Create Date: 2026-11-30 09:00:00
"""

from datetime import timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_outbox_leases"
down_revision = "0007_embedding_at"
branch_labels = None
depends_on = None

# What a claim was worth before leases: a row some worker is sending now keeps that long before another
# may take it over (looking in Slack first).
OLD_STALE_LIMIT = timedelta(minutes=2)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claim_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "dm_channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=""
            )
        )
    # Rows claimed by a worker of the previous version: the lease that worker was implicitly given.
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("claimed_by", sa.String()),
        sa.column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("claim_token", sa.String()),
        sa.column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    conn = op.get_bind()
    sending = conn.execute(
        sa.select(outbox.c.id, outbox.c.claimed_by, outbox.c.claimed_at).where(outbox.c.status == "sending")
    ).all()
    for row_id, claimed_by, claimed_at in sending:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(
                claim_token=f"{claimed_by}:legacy"[:64],
                lease_until=claimed_at + OLD_STALE_LIMIT if claimed_at is not None else None,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dm_channel")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claim_token")
