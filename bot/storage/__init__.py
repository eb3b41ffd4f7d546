"""Durable storage: one interface (base.Storage), SQLite and PostgreSQL implementations."""
