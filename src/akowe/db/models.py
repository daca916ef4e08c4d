"""Import every domain's models so the metadata (and Alembic) sees all tables."""

from akowe.accounts import models as accounts_models
from akowe.audit import models as audit_models
from akowe.certificates import models as certificates_models
from akowe.credits import models as credits_models
from akowe.db.base import Base
from akowe.delivery import models as delivery_models
from akowe.fonts import models as fonts_models
from akowe.jobs import models as jobs_models
from akowe.organizations import models as organizations_models
from akowe.ratelimit import models as ratelimit_models
from akowe.signing import models as signing_models
from akowe.templates import models as templates_models

__all__ = [
    "Base",
    "accounts_models",
    "audit_models",
    "certificates_models",
    "credits_models",
    "delivery_models",
    "fonts_models",
    "jobs_models",
    "organizations_models",
    "ratelimit_models",
    "signing_models",
    "templates_models",
]
