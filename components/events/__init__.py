"""The event bus: its settings (config), the component (component) and what to watch on it (watch)."""

from components.events.component import EventBus
from components.events.config import EventsArgs

__all__ = ["EventBus", "EventsArgs"]
