"""Alembic environment: Basalt runs migrations itself on start (see control/migrate.py), on the connection it hands
over; `alembic -c basalt/control/migrations/alembic.ini upgrade head` with BASALT_DATABASE_URL works as well."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from basalt.control.schema import metadata


def run_on(connection: Connection) -> None:
    # Batch mode lets later migrations alter tables on SQLite, which has no ALTER COLUMN.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    asyncio.run(run_from_url(os.environ["BASALT_DATABASE_URL"]))
