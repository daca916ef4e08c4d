"""Verification: verdicts on certificates and credentials, for the public and the CLI."""
