"""connection, issue_link, tracker_delivery: connections to issue trackers and CRMs (credentials encrypted),
requests linked to issues, and the webhook deliveries already acted on

Revision ID: 0018_integrations
Revises: 0017_pairs
Create Date: 2026-12-03 13:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018_integrations"
down_revision = "0017_pairs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "kind", name="uq_connection_kind"),
    )
    op.create_index("ix_connection_workspace_id", "connection", ["workspace_id"])
    op.create_table(
        "issue_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issue_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state_label", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("linked_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["feature_request.id"]),
        sa.ForeignKeyConstraint(["linked_by_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "kind", "issue_key", name="uq_issue_link"),
    )
    op.create_index("ix_issue_link_workspace_id", "issue_link", ["workspace_id"])
    op.create_index("ix_issue_link_request_id", "issue_link", ["request_id"])
    op.create_index("ix_issue_link_issue_key", "issue_link", ["issue_key"])
    op.create_table(
        "tracker_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("body_sha", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "delivery_id", name="uq_tracker_delivery"),
        sa.UniqueConstraint("kind", "body_sha", name="uq_tracker_delivery_body"),
    )
    op.create_index("ix_tracker_delivery_workspace_id", "tracker_delivery", ["workspace_id"])
    op.create_index("ix_tracker_delivery_received_at", "tracker_delivery", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_tracker_delivery_received_at", table_name="tracker_delivery")
    op.drop_index("ix_tracker_delivery_workspace_id", table_name="tracker_delivery")
    op.drop_table("tracker_delivery")
    op.drop_index("ix_issue_link_issue_key", table_name="issue_link")
    op.drop_index("ix_issue_link_request_id", table_name="issue_link")
    op.drop_index("ix_issue_link_workspace_id", table_name="issue_link")
    op.drop_table("issue_link")
    op.drop_index("ix_connection_workspace_id", table_name="connection")
    op.drop_table("connection")
