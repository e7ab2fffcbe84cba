"""productarea.retired_at: areas can be retired (and renamed) instead of staying forever

Revision ID: 0013_areas
Revises: 0012_home
Create Date: 2026-11-27 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013_areas"
down_revision = "0012_home"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("productarea", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("productarea", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
