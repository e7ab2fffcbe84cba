"""threshold currency: the money rule keeps the currency it was set in (and joins the two heads)

Revision ID: 0006_threshold_currency
Revises: 0004_decisions, 0005_schedules
Create Date: 2026-11-23 06:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006_threshold_currency"
down_revision = ("0004_decisions", "0005_schedules")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("productarea", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "threshold_currency",
                sqlmodel.sql.sqltypes.AutoString(length=3),
                nullable=False,
                server_default="USD",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("productarea", schema=None) as batch_op:
        batch_op.drop_column("threshold_currency")
