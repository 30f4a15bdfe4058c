from tests.control.conftest import pg_url  # noqa: F401  (a fresh PostgreSQL database)
