"""Accounts, sub-accounts and API keys."""
