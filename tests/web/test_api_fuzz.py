"""A bounded schemathesis pass over every operation of /api/v1/openapi.json: no 500s, answers as documented.

The app runs in-process (WSGI) on a SQLite copy of the migrated template, with the shipped diagrams, a small
organisation, a reported hazard and a bearer token of a user who holds every role at the school (and the
supervisor role at the bureau), so most operations get past authorisation and reach their real code.
The pass is generic over the document: an operation added to the API is fuzzed without touching this file.
Generation is derandomized (hypothesis draws the same examples on every run) and small (MAX_EXAMPLES positive
and as many negative examples per operation), so the run is reproducible and bounded (about a minute of CPU).
Each operation runs as its own hypothesis test inside one pytest test (schemathesis' lazy pytest fixture
loader needs a pytest private attribute that pytest 9.2 no longer has); every failure is collected and shown.
"""
from __future__ import annotations

import re
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.config import DEFAULT_BPMN_DIR, Settings
from engine.infra.db import make_engine, make_session_factory
from engine.org import accounts, tokens
from engine.org.models import ROLES
from engine.rectification.attachments import EvidenceStore
from engine.rectification.hazards import report_hazard
from tests.conftest import REPORT, T0
from web.app import create_app

MAX_EXAMPLES = 15
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory, sqlite_template):
    """The app on its own SQLite database (module-wide: every operation's examples share it) and a token."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sqlite_template, folder / "fuzz.sqlite3")
    engine = make_engine(f"sqlite:///{folder / 'fuzz.sqlite3'}")
    services = assemble(make_session_factory(engine), FixedClock(T0), DEFAULT_BPMN_DIR)
    services.deploy_directory()
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        province = accounts.add_org(s, "province", "某省教育厅", "p")
        city = accounts.add_org(s, "city", "某市教育局", "p-c", province)
        bureau = accounts.add_org(s, "county", "某区教育局", "p-c-b", city)
        school = accounts.add_org(s, "school", "某职业学院", "p-c-b-s", bureau)
        college = accounts.add_org(s, "unit", "机电工程学院", "s-jd", school)
        roles = [(role, school) for role in ROLES] + [("supervisor", bureau), ("department_staff", college)]
        fuzzer = accounts.add_user(s, "fuzzer", "模糊测试", "pw-fuzzer", college, now, roles=roles).id
        uow.commit()
    report_hazard(services, fuzzer, dict(REPORT))
    plaintext = tokens.create_token(services, fuzzer, "fuzz")[1]
    services.evidence_store = EvidenceStore(folder / "uploads", max_bytes=64 * 1024)
    app = create_app(Settings(secret_key="fuzz-secret", upload_dir=folder / "uploads"), services=services,
                     config={"TESTING": True})
    yield app, plaintext
    engine.dispose()


def _fuzz(operation, mode, headers) -> list[str]:
    """Run one operation's examples in one generation mode; the failures as text (empty when it held)."""
    failures = []

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup: collect, go on
        failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


def test_every_api_operation_answers_as_documented_and_never_500(fuzz_world):
    app, token = fuzz_world
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                # flask-smorest's catch-all "default" would make any status conform: every one must be named.
                operation["responses"].pop("default", None)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    headers = {"Authorization": f"Bearer {token}"}
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(operation, mode, headers)
    assert operations >= 40
    assert not failures, "\n\n".join(failures)


def test_every_undocumented_method_is_a_json_405_that_names_the_documented_ones(fuzz_world):
    app, token = fuzz_world
    client = app.test_client()
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    checked = 0
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        documented = {method.upper() for method in operations if method.upper() in METHODS}
        allow = documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set())
        for method in sorted(METHODS - documented):
            response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 405, (method, template, response.status_code, response.get_data()[:200])
            assert response.get_json()["code"] == "method_not_allowed", (method, template)
            assert set(response.headers["Allow"].split(", ")) == allow, (method, template, response.headers["Allow"])
            checked += 1
    assert checked > 100


def test_ids_beyond_the_database_range_are_documented_and_a_json_404_or_422(fuzz_world):
    app, token = fuzz_world
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    spec = client.get("/api/v1/openapi.json").get_json()
    hazard_id = spec["paths"]["/api/v1/hazards/{hazard_id}"]["parameters"][0]
    assert (hazard_id["schema"]["minimum"], hazard_id["schema"]["maximum"]) == (1, 2**31 - 1)
    page = next(p for p in spec["paths"]["/api/v1/hazards"]["get"]["parameters"] if p["name"] == "page")
    assert page["schema"]["maximum"] == 2**31 - 1
    for path in ("/api/v1/hazards/2147483648", "/api/v1/tasks/99999999999999999999/claim", "/api/v1/hazards/0"):
        response = client.open(path, method="POST" if path.endswith("claim") else "GET", headers=headers)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found", path
    for query in ("page=36893488147419103233", "unit_id=2147483648", "per_page=0"):
        response = client.get(f"/api/v1/hazards?{query}", headers=headers)
        assert response.status_code == 422 and response.get_json()["code"] == "invalid_form_data", query
    response = client.post("/api/v1/tasks/1/delegate", json={"to_user_id": 3_000_000_000}, headers=headers)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "to_user_id"
