"""The Cloudflare edge: its config (zone, hostnames, Worker, HSTS), the rule phases, and the component."""

from components.edge.component import COMPATIBILITY_DATE, MAIN_MODULE, WORKER_SCRIPT, EdgeWorker
from components.edge.config import EdgeArgs

__all__ = ["COMPATIBILITY_DATE", "MAIN_MODULE", "WORKER_SCRIPT", "EdgeArgs", "EdgeWorker"]
