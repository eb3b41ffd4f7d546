"""Durable storage: one implementation (database.Storage) on SQLAlchemy Core, for SQLite and
PostgreSQL; the tables (schema.py) and their migrations (migrations/), described once."""
