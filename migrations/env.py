import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

import supportnet.models  # noqa: F401 - registers every table on the metadata
from supportnet.db import enable_wal

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# Keep loggers configured by the app (and tests) alive when migrations run in-process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


def get_engine():
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def _defer_foreign_keys(connection):
    """On SQLite, turn foreign key enforcement off for the migrations, as Alembic's batch mode needs.

    Batch mode changes a table by copying it, dropping the old one and renaming the copy. With foreign keys on,
    dropping `user` deletes, by ON DELETE CASCADE, every session, membership and RSVP that refers to it. The
    pragma only takes effect outside a transaction, so it is set on the driver's connection before the
    migrations begin; `_check_foreign_keys` proves nothing was left dangling before the last commit, and
    `_enforce_foreign_keys` turns enforcement back on once the connection is back in the pool (out of any
    transaction) so the app never gets a pooled connection without it. Returns the driver connection, or None.
    """
    if connection.dialect.name != "sqlite":
        return None
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    return raw


def _enforce_foreign_keys(raw):
    if raw is not None:
        raw.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(connection):
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migrations left rows pointing nowhere: {broken[:5]}")


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()
    # WAL is a property of the database file: set it once, when migrations create or upgrade it.
    enable_wal(connectable)

    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        raw = _defer_foreign_keys(connection)
        # A migration's writes are not the app's: the feed versions (which may not exist yet) are not moved.
        # (The pooled connection keeps its info, so the mark comes off again.)
        connection.info["supportnet_migrating"] = True
        try:
            with context.begin_transaction():
                context.run_migrations()
                _check_foreign_keys(connection)
        finally:
            connection.info.pop("supportnet_migrating", None)
            connection.close()  # back to the pool, which ends any transaction left open
            _enforce_foreign_keys(raw)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
