"""The append-only credit ledger."""
