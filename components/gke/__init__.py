"""A GKE cluster: its settings (config), the component (cluster) and what to watch on it (watch)."""

from components.gke.cluster import GkeCluster
from components.gke.config import GkeArgs, NodePoolArgs

__all__ = ["GkeArgs", "GkeCluster", "NodePoolArgs"]
