"""The ledger of record: every payment and its changes in a real database, kept after Temporal
deletes the workflow (SQLite embedded by default, PostgreSQL in production)."""
