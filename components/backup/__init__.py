"""Backups outside the data's region: the settings of the stack file (config), the export workflows (workflows), the
component (component), and the alert filter for failed exports and backups (watch)."""

from components.backup.component import Backup, DatabaseExportTarget, RedisExportTarget, recovery_objectives, worst_rpo
from components.backup.config import BackupArgs, ExportsArgs

__all__ = [
    "Backup",
    "BackupArgs",
    "DatabaseExportTarget",
    "ExportsArgs",
    "RedisExportTarget",
    "recovery_objectives",
    "worst_rpo",
]
