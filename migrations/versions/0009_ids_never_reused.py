"""ids never reused: AUTOINCREMENT on SQLite for every table keyed by id; random nonces for signed links

Revision ID: 0009
Revises: 0007_data_controls

Reviewed (written by hand, then checked against the models by the empty-database test and by
tests/test_identifiers.py, which upgrades a database holding rows). Two NOT NULL columns on tables that hold
rows: user.link_nonce and attendance_proof.nonce, filled with a fresh random value per existing row before
they become NOT NULL (a shared default would defeat their purpose: tying a signed link to one row).

PostgreSQL: identity sequences never hand an id out twice, so only the columns change.

SQLite: without AUTOINCREMENT a table reuses the largest id once its row is deleted (and any id after a
VACUUM), so an old link, proof or feed UID would name somebody else. AUTOINCREMENT cannot be added in place:
each table keyed by `id` is rebuilt with SQLite's documented procedure (foreign keys off outside the
transaction; create the new table from the stored CREATE TABLE text with `id INTEGER NOT NULL PRIMARY KEY
AUTOINCREMENT` instead of the separate primary-key clause; copy every row with its id; drop the old table;
rename; recreate its indexes; PRAGMA foreign_key_check; commit; foreign keys on). Editing the stored text keeps
every CHECK, UNIQUE and FOREIGN KEY clause exactly as earlier migrations made it; the tables are listed here
rather than read from the models, so this migration means the same thing whatever the models become. Copying
the rows with their ids makes SQLite start each sequence after the largest id present. Dropping a table with
foreign keys on would run its ON DELETE CASCADE actions on the tables that point at it, hence the pragma.
Create Date: 2026-12-02 04:30:00

"""
import re
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_ids_never_reused'
down_revision = '0008_account_safety'
branch_labels = None
depends_on = None

# Every table whose primary key is an integer `id` (parents before children does not matter: keys are off).
TABLES = (
    'user', 'user_session', 'account_token', 'login_failure', 'group', 'group_tag', 'membership',
    'meeting_series', 'occurrence', 'standing_rsvp', 'rsvp', 'attendance', 'attendance_proof', 'checkin',
    'checkin_own_tag', 'checkin_tag', 'notification', 'audit_entry', 'recovery_code',
)
NONCES = (('user', 'link_nonce'), ('attendance_proof', 'nonce'))


def _fill_nonces(connection) -> None:
    for table, column in NONCES:
        ids = connection.execute(sa.text(f'SELECT id FROM "{table}" WHERE {column} IS NULL')).scalars().all()
        for row_id in ids:
            connection.execute(sa.text(f'UPDATE "{table}" SET {column} = :nonce WHERE id = :id'),
                               {"nonce": secrets.token_hex(16), "id": row_id})


def _autoincrement_sql(table: str, sql: str) -> str:
    new, count = re.subn(rf'^CREATE TABLE ("?){re.escape(table)}\1 \(', f'CREATE TABLE "_new_{table}" (', sql)
    assert count == 1, f"unexpected CREATE TABLE for {table}"
    new, count = re.subn(r'(\n\s*)id INTEGER NOT NULL,', r'\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,', new)
    assert count == 1, f"unexpected id column in {table}"
    new, count = re.subn(r',\s*CONSTRAINT "?pk_\w+"? PRIMARY KEY \(id\)', '', new)
    assert count == 1, f"unexpected primary key clause in {table}"
    for nonce_table, column in NONCES:
        if nonce_table == table:
            new, count = re.subn(rf'\b{column} VARCHAR\(32\)(?! NOT NULL)', f'{column} VARCHAR(32) NOT NULL', new)
            assert count == 1, f"unexpected {column} column in {table}"
    return new


def _rebuild_sqlite(raw) -> None:
    """Rebuild TABLES with AUTOINCREMENT on a raw sqlite3 connection in autocommit mode."""
    enforced = raw.execute("PRAGMA foreign_keys").fetchone()[0]
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        raw.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                sql = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (table,)).fetchone()[0]
                if "AUTOINCREMENT" in sql:
                    continue
                indexes = [row[0] for row in raw.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                    (table,))]
                raw.execute(_autoincrement_sql(table, sql))
                raw.execute(f'INSERT INTO "_new_{table}" SELECT * FROM "{table}"')  # noqa: S608 - fixed names
                raw.execute(f'DROP TABLE "{table}"')
                raw.execute(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
                for index_sql in indexes:
                    raw.execute(index_sql)
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    finally:
        raw.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def upgrade():
    op.add_column('user', sa.Column('link_nonce', sa.String(length=32), nullable=True))
    op.add_column('attendance_proof', sa.Column('nonce', sa.String(length=32), nullable=True))
    connection = op.get_bind()
    _fill_nonces(connection)
    if connection.dialect.name != 'sqlite':
        op.alter_column('user', 'link_nonce', existing_type=sa.String(length=32), nullable=False)
        op.alter_column('attendance_proof', 'nonce', existing_type=sa.String(length=32), nullable=False)
        return
    # PRAGMA foreign_keys only takes effect outside a transaction: commit what came before (the new columns),
    # rebuild in a transaction of our own, then open one again for Alembic's version stamp. (The app's "begin"
    # hook issues BEGIN itself, so Alembic's autocommit block would not leave the transaction.)
    raw = connection.connection.driver_connection
    if raw.in_transaction:
        raw.execute("COMMIT")
    _rebuild_sqlite(raw)
    raw.execute("BEGIN IMMEDIATE")


def downgrade():
    # The tables keep AUTOINCREMENT: never reusing ids is harmless to the older code.
    with op.batch_alter_table('attendance_proof', schema=None) as batch_op:
        batch_op.drop_column('nonce')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('link_nonce')
