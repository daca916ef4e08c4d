"""akowe: a self-hostable certificate issuance service speaking the Akowe Issuance API."""

__version__ = "0.1.0"
