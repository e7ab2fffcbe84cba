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
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "crm_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("crm_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("amount_from_crm", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("crm_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_occurrence_crm_ref", ["crm_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_index("ix_occurrence_crm_ref")
        batch_op.drop_column("crm_checked_at")
        batch_op.drop_column("amount_from_crm")
        batch_op.drop_column("crm_verified")
        batch_op.drop_column("crm_ref")
