"""Alembic environment, configured programmatically (no alembic.ini).

``piranha_web.services.schema.upgrade`` passes a live connection in
``config.attributes["connection"]``; offline mode renders SQL for a URL.
"""

from alembic import context

from piranha_web import models  # noqa: F401  (registers tables on Base.metadata)
from piranha_web.extensions import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    """Emit SQL for ``sqlalchemy.url`` without connecting."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over the connection handed in by the caller."""
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
