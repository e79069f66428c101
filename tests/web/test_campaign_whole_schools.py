"""A bureau chooses, on the page and in the API, whether each school self-checks as one unit or every unit of it does."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.campaigns.models import Campaign, CampaignUnit
from engine.infra.config import Settings
from engine.org import tokens
from tests.integration.test_multischool_campaign import STAGES, _bureaus
from web.app import create_app


@pytest.fixture
def bureaus(services):
    return _bureaus(services)


@pytest.fixture
def app(services, tmp_path):
    return create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services,
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})


def _units(services, title: str) -> set[int]:
    with services.uow() as uow:
        campaign = uow.session.scalars(select(Campaign).where(Campaign.title == title)).one()
        return set(uow.session.scalars(select(CampaignUnit.org_id).where(CampaignUnit.campaign_id == campaign.id)))


def test_the_api_takes_whole_schools(app, services, bureaus):
    w = bureaus
    headers = {"Authorization": f"Bearer {tokens.create_token(services, w.users.sup_a, 't')[1]}"}
    body = {"template_id": w.template, "unit_ids": [w.orgs.s1, w.orgs.s2], "stages": STAGES, "org_id": w.orgs.a}
    client = app.test_client()
    assert client.post("/api/v1/campaigns", headers=headers, json={**body, "title": "一校一单位"}).status_code == 201
    assert _units(services, "一校一单位") == {w.orgs.s1, w.orgs.s2}
    assert client.post("/api/v1/campaigns", headers=headers,
                       json={**body, "title": "各单位", "whole_schools": True}).status_code == 201
    assert _units(services, "各单位") == {w.orgs.s1_bw, w.orgs.s1_jd, w.orgs.s2_bw, w.orgs.s2_jd}


def test_the_page_offers_whole_schools_above_a_school_only(app, services, bureaus):
    w = bureaus
    client = app.test_client()
    client.post("/login", data={"username": "sup_a", "password": "pw"})
    page = client.get(f"/campaigns/new?org={w.orgs.a}").get_data(as_text=True)
    assert 'name="whole_schools"' in page and "学校s1" in page
    form = {"org": w.orgs.a, "title": "全区专项整治", "template": str(w.template), "whole_schools": "1",
            "unit_ids": [str(w.orgs.s1), str(w.orgs.s3)],
            **{f"stages.{k}.{part}": v[part] for k, v in STAGES.items() for part in ("start", "end")}}
    created = client.post("/campaigns/new", data=form)
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    assert _units(services, "全区专项整治") == {w.orgs.s1_bw, w.orgs.s1_jd, w.orgs.s3_bw, w.orgs.s3_jd}
    school = app.test_client()
    school.post("/login", data={"username": "security_s1", "password": "pw"})
    assert 'name="whole_schools"' not in school.get("/campaigns/new").get_data(as_text=True)


def test_items_reaching_no_unit_are_a_warning_on_the_page_and_in_the_api(app, services, bureaus):
    """全覆盖: a campaign over 保卫处 only leaves the college-only item (危化品管理) to nobody; both sides say so."""
    w = bureaus
    client = app.test_client()
    client.post("/login", data={"username": "security_s1", "password": "pw"})
    form = {"title": "只查保卫处", "template": str(w.template), "unit_ids": [str(w.orgs.s1_bw)],
            **{f"stages.{k}.{part}": v[part] for k, v in STAGES.items() for part in ("start", "end")}}
    created = client.post("/campaigns/new", data=form, follow_redirects=True)
    page = created.get_data(as_text=True)
    assert "未做到全覆盖" in page and 'data-testid="uncovered-items"' in page and "危化品管理" in page
    campaign_id = int(created.request.path.rsplit("/", 1)[-1])
    headers = {"Authorization": f"Bearer {tokens.create_token(services, w.users.security_s1, 't')[1]}"}
    detail = client.get(f"/api/v1/campaigns/{campaign_id}", headers=headers).json
    assert [i["content"] for i in detail["uncovered_items"]] == ["危化品管理"]
