"""`python -m akowe.cli`."""

from akowe.cli.main import app

app()
