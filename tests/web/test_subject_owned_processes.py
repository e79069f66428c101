"""The shipped, subject-owned processes (a registered contract: hazards, campaigns, self-checks, patrols) are not
offered in 发起流程 and cannot be started by key: they start through their own pages, which the refusal names."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.org.models import User
from engine.process import instance_views
from engine.process.models import ProcessInstance
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401
from .catalogue_helpers import bpmn_dir_with_form, deploy_purchase
from .ui_fixtures import app, login  # noqa: F401

OWNED = {"hazard_rectification": "/hazards/new", "campaign": "/campaigns/new",
         "unit_self_check": "/campaigns", "patrol": "/schedules", "annual_assessment": "/assessment"}


@pytest.fixture
def bpmn_dir(tmp_path):
    """The shipped diagrams plus the purchase process's start form."""
    return bpmn_dir_with_form(tmp_path)


def test_every_shipped_process_is_owned_by_its_subject(services):
    assert {key for key in OWNED if services.hooks.subject_owned(key)} == set(OWNED)
    assert services.hooks.subject_owned("purchase_form") is None


@pytest.mark.parametrize("key", sorted(OWNED))
def test_the_api_refuses_to_start_a_subject_owned_process_and_names_its_page(api, services, key):
    with services.uow() as uow:
        before = uow.session.query(ProcessInstance).count()
    refused = api.call("designer", "POST", "/process-instances", json={"key": key, "data": {}})
    assert refused.status_code == 422, refused.get_json()
    body = refused.get_json()
    assert body["code"] == "invalid_form_data" and body["errors"][0]["field"] == "key"
    assert key in body["message"] and "its own page" in body["message"] and OWNED[key] in body["message"]
    with services.uow() as uow:
        assert uow.session.query(ProcessInstance).count() == before


def test_the_catalogue_leaves_them_out_and_their_start_page_sends_the_user_back(login, services, world):
    deploy_purchase(services, world.users.designer)
    with services.uow() as uow:
        designer = uow.session.get(User, world.users.designer)
        listed = [e.definition.key for e in instance_views.catalogue(uow.session, designer, services.hooks)]
    assert "purchase_form" in listed and not set(OWNED) & set(listed)

    client = login("designer")
    html = client.get("/processes").get_data(as_text=True)
    assert 'data-testid="start-purchase_form"' in html
    assert not any(f'data-testid="start-{key}"' in html for key in OWNED)
    sent_back = client.get("/processes/hazard_rectification/start")
    assert sent_back.status_code == 303 and sent_back.headers["Location"].endswith("/processes")
    shown = client.get("/processes").get_data(as_text=True)
    assert "该流程由其业务页面发起" in shown and "/hazards/new" in shown
    assert client.post("/processes/campaign/start", data={}).status_code == 303


def test_the_cli_refuses_them_too(services, world, database_url):
    got = CliRunner().invoke(main, ["--database-url", database_url, "start", "patrol", "--user", "designer"])
    assert got.exit_code != 0 and "its own page" in got.output and "/schedules" in got.output
