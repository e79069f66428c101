"""回头看 sampling: closed hazards drawn at random with a seed that is recorded and reproduces the draw."""
from __future__ import annotations

from sqlalchemy import select

from engine import checklists
from engine.campaigns import Campaigns
from engine.models import Hazard
from engine.models.campaigns import Campaign

STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


def test_look_back_sample_is_reproducible_from_its_recorded_seed(services, world, report_hazard, clock):
    hazards = [report_hazard(problem=f"问题{n}").id for n in range(6)]
    with services.uow() as uow:
        for hazard in uow.session.scalars(select(Hazard).where(Hazard.id.in_(hazards[:5]))):
            hazard.closed_at = clock.now()
        uow.commit()
    campaigns = Campaigns(services)
    sample, seed = campaigns.sample_look_back(world.orgs.school, 3)
    assert len(sample) == 3 and set(sample) <= set(hazards[:5])  # only closed hazards are drawn
    assert campaigns.sample_look_back(world.orgs.school, 3, seed=seed) == (sample, seed)
    with services.uow() as uow:
        shipped = checklists.load_shipped(uow.session, services.bpmn_dir, clock.now())
        uow.commit()
    look_back = campaigns.create_campaign(world.users.security, "回头看", shipped[2].id, [world.orgs.college],
                                          STAGES, kind="look_back", sample=sample, sample_seed=seed)
    with services.uow() as uow:
        stored = uow.session.get(Campaign, look_back.id)
        assert (stored.kind, stored.sample, stored.sample_seed) == ("look_back", sample, seed)
