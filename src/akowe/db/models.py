"""Import every domain's models so the metadata (and Alembic) sees all tables."""

from akowe.accounts import models as accounts_models
from akowe.credits import models as credits_models
from akowe.db.base import Base

__all__ = ["Base", "accounts_models", "credits_models"]
