"""The audit trail: who did what to which certificate, key or credit, and when."""
