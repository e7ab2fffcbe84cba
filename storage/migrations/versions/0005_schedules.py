"""schedules: the 1:1 group DM channel, agenda items per meeting and who marked them done

Revision ID: 0005_schedules
Revises: 0001
Create Date: 2026-11-22 21:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_schedules"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oneonone", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=""
            )
        )
    with op.batch_alter_table("agendaitem", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meeting", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("done_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_agendaitem_done_by_person", "person", ["done_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("agendaitem", schema=None) as batch_op:
        batch_op.drop_constraint("fk_agendaitem_done_by_person", type_="foreignkey")
        batch_op.drop_column("done_by_id")
        batch_op.drop_column("meeting")
    with op.batch_alter_table("oneonone", schema=None) as batch_op:
        batch_op.drop_column("channel_id")
