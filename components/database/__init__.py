"""Cloud SQL for PostgreSQL: the settings of the stack file (config), the instance settings the primary and its
replicas share (settings), the component, and what to watch on it (watch)."""

from components.database.component import Database
from components.database.config import CIS_FLAGS, DatabaseArgs

__all__ = ["CIS_FLAGS", "Database", "DatabaseArgs"]
