"""customer_alias (one customer counted once after a merge) and area_chart (an area's chart, drawn once a day)

Revision ID: 0012_home
Revises: 0010_person_team
Create Date: 2026-11-25 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012_home"
# In the merged chain this follows 0011_matching; on its own branch it follows the head it was built on.
down_revision = "0010_person_team"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("alias_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "alias_key", name="uq_customer_alias"),
    )
    with op.batch_alter_table("customer_alias", schema=None) as batch_op:
        batch_op.create_index("ix_customer_alias_workspace_id", ["workspace_id"], unique=False)
    op.create_table(
        "area_chart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["productarea.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("area_id", "day", name="uq_area_chart_day"),
    )
    with op.batch_alter_table("area_chart", schema=None) as batch_op:
        batch_op.create_index("ix_area_chart_area_id", ["area_id"], unique=False)
        batch_op.create_index("ix_area_chart_workspace_id", ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("area_chart", schema=None) as batch_op:
        batch_op.drop_index("ix_area_chart_workspace_id")
        batch_op.drop_index("ix_area_chart_area_id")
    op.drop_table("area_chart")
    with op.batch_alter_table("customer_alias", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_alias_workspace_id")
    op.drop_table("customer_alias")
