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
