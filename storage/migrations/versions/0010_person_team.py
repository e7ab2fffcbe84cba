"""person.home_team_id and person.external: a Slack Connect user keeps their own team, and is known as external

Revision ID: 0010_person_team
Revises: 0009_handled_payloads
Create Date: 2026-11-25 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010_person_team"
down_revision = "0009_handled_payloads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Everyone stored so far came in through their own workspace: no team recorded, not external.
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "home_team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("external", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("external")
        batch_op.drop_column("home_team_id")
