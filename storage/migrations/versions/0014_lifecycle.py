"""clock_heartbeat (the clock's ticks, for /healthz), workspace parking (uninstalled or tokens revoked) and
person.deactivated (user_change)

Revision ID: 0014_lifecycle
Revises: 0013_areas
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014_lifecycle"
# In the merged chain this follows 0013; on its own branch it follows the head it was built on.
down_revision = "0013_areas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clock_heartbeat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clock_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("beat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clock_id"),
    )
    with op.batch_alter_table("clock_heartbeat", schema=None) as batch_op:
        batch_op.create_index("ix_clock_heartbeat_beat_at", ["beat_at"], unique=False)
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "parked_reason",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("deactivated")
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("parked_reason")
        batch_op.drop_column("parked_at")
    with op.batch_alter_table("clock_heartbeat", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_heartbeat_beat_at")
    op.drop_table("clock_heartbeat")
