"""Issuance: debit -> record -> queue delivery, in one transaction; the certificate lifecycle."""
