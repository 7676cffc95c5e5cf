"""The code lists of a citizen record (gender, date precision, status, marital status, blood
type, kind of version), apart from the models that constrain columns to them: the import's
validating workers check rows against them without importing SQLAlchemy (its import slows
each fork server's start and takes memory in every worker: docs/performance.md, "Import
times")."""

from __future__ import annotations

GENDERS = ("male", "female")
PRECISIONS = ("day", "month", "year")
STATUSES = ("alive", "deceased", "missing")
MARITAL = ("single", "married", "divorced", "widowed")
BLOOD_TYPES = ("A", "B", "AB", "O", "A-", "B-", "AB-", "O-")
VERSION_KINDS = (
    "birth",
    "death",
    "missing",
    "residence",
    "marriage",
    "divorce",
    "name_change",
    "gender_change",
    "correction",
    "import",
    "card",
)
