"""Signing core: keys, DIDs, Open Badges 3.0 credentials, Data Integrity proofs, status lists."""
