"""match_pair: the requester's answers at the "Same thing?" step (a phrasing is / is not a request shown);
match_adapter: a workspace's adapter on query embeddings learnt from them

Revision ID: 0017_pairs
Revises: 0016_search
Create Date: 2026-12-03 13:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017_pairs"
down_revision = "0016_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("same", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["draft_id"], ["draft.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["feature_request.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("draft_id", "request_id", name="uq_match_pair_draft_request"),
    )
    with op.batch_alter_table("match_pair", schema=None) as batch_op:
        batch_op.create_index("ix_match_pair_request_id", ["request_id"], unique=False)
        batch_op.create_index("ix_match_pair_workspace_id", ["workspace_id"], unique=False)
    op.create_table(
        "match_adapter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("matrix", sa.LargeBinary(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("last_pair_id", sa.Integer(), nullable=False),
        sa.Column("held_base", sa.Float(), nullable=False),
        sa.Column("held_adapted", sa.Float(), nullable=False),
        sa.Column("fitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id"),
    )


def downgrade() -> None:
    op.drop_table("match_adapter")
    with op.batch_alter_table("match_pair", schema=None) as batch_op:
        batch_op.drop_index("ix_match_pair_workspace_id")
        batch_op.drop_index("ix_match_pair_request_id")
    op.drop_table("match_pair")
