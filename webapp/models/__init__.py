"""SQLAlchemy 2.0 typed models. Import from here: ``from webapp.models import Project``."""

from webapp.models.accounts import ApiToken, Membership, User, UserSession
from webapp.models.alerts import Alert, AlertRule, DeliveryAttempt, OutboxMessage, Recipient
from webapp.models.base import Base
from webapp.models.capture import (
           Capture,
           CaptureChunk,
           ElementStatus,
           ElementStatusChange,
           Frame,
           Observation,
)
from webapp.models.project import Element, ModelRevision, ProgressReport, Project, Storey
from webapp.models.schedule import ScheduleVersion, Task, TaskElement

__all__ = [
    "ApiToken", "Membership", "User", "UserSession", "Alert", "AlertRule", "Base",
    "DeliveryAttempt", "OutboxMessage", "Recipient", "Capture", "CaptureChunk", "Element",
    "ElementStatus", "ElementStatusChange", "Frame", "ModelRevision", "Observation",
    "ProgressReport", "Project", "ScheduleVersion", "Storey", "Task", "TaskElement",
]
