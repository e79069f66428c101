"""The persistent domain. Each module holds the tables of one subject; importing this package registers all of them."""
from .core import (  # noqa: F401
    ORG_KINDS,
    ROLES,
    Base,
    Event,
    Hazard,
    HumanTask,
    OrgNode,
    OutboxMessage,
    ProcessDefinition,
    ProcessInstance,
    RoleGrant,
    User,
)
from .records import ApiToken, Attachment, Comment, SavedFilter  # noqa: F401
from . import deadlines, notifications  # noqa: F401  (issue 4 tables)
from . import campaigns  # noqa: F401  (issue 5 tables)
from . import look_back  # noqa: F401  (回头看 results, 0007)
from . import statistics  # noqa: F401  (statistics report snapshots, 0006)
from . import notices  # noqa: F401  (rectification notices, 0008)
from . import schedules  # noqa: F401  (recurring inspections, 0009)
