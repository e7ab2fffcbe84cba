"""decisions: a history of PM decisions on requests; outbox failure reports and send checks

Revision ID: 0004_decisions
Revises: 0001
Create Date: 2026-11-22 22:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_decisions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("link", sa.Text(), server_default="", nullable=False),
        sa.Column("customer_note", sa.Text(), server_default="", nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("moved_occurrences", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["merged_into_id"], ["feature_request.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["feature_request.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_request_decision_request_id"), "request_decision", ["request_id"], unique=False)
    op.create_index(
        op.f("ix_request_decision_workspace_id"), "request_decision", ["workspace_id"], unique=False
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "report_to", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("report_label", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("check_before_send", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("check_before_send")
        batch_op.drop_column("report_label")
        batch_op.drop_column("report_to")
    op.drop_index(op.f("ix_request_decision_workspace_id"), table_name="request_decision")
    op.drop_index(op.f("ix_request_decision_request_id"), table_name="request_decision")
    op.drop_table("request_decision")
