"""sites: a site's part may belong to a re-evaluation run (a submission re-evaluated on a version held at sites)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 00:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission_site_parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reevaluation_run_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_submission_site_parts_reevaluation_run_id', 'reevaluation_runs',
                                    ['reevaluation_run_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('submission_site_parts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_submission_site_parts_reevaluation_run_id', type_='foreignkey')
        batch_op.drop_column('reevaluation_run_id')
