"""A simulated medical-insurance centre in the national platform's transaction shape (docs/centre.md):
numbered JSON transactions over HTTP (9001/9002, 1101, 2101–2103, 2201–2208, 2601, 3201/3202 and yikatong's
offline extensions), its own database (SQLite or PostgreSQL), the same policy engine and catalog as the
counter, strict input checking, idempotent msgids, and fault switches for testing counter systems."""

from .centre import Answer, Centre
from .errors import CentreError, Refused, SeedError
from .faults import Faults

__all__ = ["Answer", "Centre", "CentreError", "Faults", "Refused", "SeedError"]
