"""An administrator for tests that replace live processes or migrate instances (the shared world has none)."""
from __future__ import annotations

from engine.org import accounts
from engine.org.models import OrgNode


def add_admin(services, world, name: str = "admin") -> int:
    """Add an administrator at the world's school; returns the user id."""
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        user_id = accounts.add_user(s, name, name, "pw-" + name, school, services.clock.now(),
                                    roles=[("admin", school)]).id
        uow.commit()
    return user_id
