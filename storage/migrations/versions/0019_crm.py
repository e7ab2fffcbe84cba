"""occurrence.crm_ref, crm_verified, amount_from_crm, crm_checked_at: the CRM account a customer was picked
as, whether the CRM confirmed it, whether the amount is the CRM's, and when it was last refreshed

Revision ID: 0019_crm
Revises: 0018_integrations
Create Date: 2026-12-03 13:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019_crm"
down_revision = "0018_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch_alter_table: on SQLite a batch copy recreates `occurrence`, which the
    # full-text search triggers of 0016_search refer to, and the rename back fails.
    op.add_column(
        "occurrence",
        sa.Column("crm_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""),
    )
    op.add_column(
        "occurrence", sa.Column("crm_verified", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "occurrence", sa.Column("amount_from_crm", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "occurrence", sa.Column("crm_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.create_index("ix_occurrence_crm_ref", "occurrence", ["crm_ref"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_occurrence_crm_ref", table_name="occurrence")
    for column in ("crm_checked_at", "amount_from_crm", "crm_verified", "crm_ref"):
        op.drop_column("occurrence", column)  # plain DROP COLUMN (SQLite 3.35+), for the same reason
