"""A Cloud Run service of the product: its settings (config), the component (service), what its service and jobs
share (template) and what to watch on it (watch)."""

from components.cloud_run.config import (
    BASE_ROLES,
    INGRESS,
    LATEST,
    RESERVED_ENV,
    SECRET_WORDS,
    MigrationsArgs,
    ServiceArgs,
    ServiceName,
    TrafficArgs,
)
from components.cloud_run.service import CloudRunService, service_name

__all__ = [
    "BASE_ROLES",
    "INGRESS",
    "LATEST",
    "RESERVED_ENV",
    "SECRET_WORDS",
    "CloudRunService",
    "MigrationsArgs",
    "ServiceArgs",
    "ServiceName",
    "TrafficArgs",
    "service_name",
]
