"""The walk over the public diagrams in ../shared/foreign-bpmn: one test per catalogue entry, through the REST API.

Each entry is deployed as one bundle by a process designer, started, and its user tasks are taken from whichever
inbox holds them, claimed and completed with the catalogue's data until the instance completes; entries meant to
be refused must be refused at deploy with a clear message, and entries meant to fail must fail naming the cause.
Runs on SQLite only: it exercises what the engine makes of foreign diagrams, not storage (the storage tests cover
both backends). Skips loudly when the shared folder is absent.
"""
from __future__ import annotations

import re

import pytest
from lxml import etree

from engine.org.models import ROLES

from .catalogue import BY_ID, CATALOGUE, ROLES_USED
from .walk import FOREIGN_DIR, Walker, foreign_dir_problem, make_template, walk

PROBLEM = foreign_dir_problem()
if PROBLEM:  # loud: the reason names the missing folder in every run's skip summary
    pytest.skip(PROBLEM, allow_module_level=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("foreign") / "template.sqlite3"
    make_template(path)
    return path


@pytest.mark.parametrize("entry_id", [e["id"] for e in CATALOGUE])
def test_walk(entry_id, template, tmp_path):
    entry = BY_ID[entry_id]
    walker = Walker(template, tmp_path)
    try:
        outcome = walk(entry, walker)
    finally:
        walker.close()
    assert outcome.ok, outcome.summary()


def _bpmn_ids(files: list[str]) -> set[str]:
    ids = set()
    for rel in files:
        if rel.endswith(".bpmn"):
            try:
                root = etree.parse(str(FOREIGN_DIR / rel), etree.XMLParser(resolve_entities=False, no_network=True))
            except etree.XMLSyntaxError:
                continue
            ids |= {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    return ids


def test_the_catalogue_covers_every_shared_diagram_and_names_real_files_processes_tasks_and_roles():
    used = {rel for e in CATALOGUE for rel in e["files"] + [f for b in e.get("before", []) for f in b]}
    missing = sorted(rel for rel in used if not (FOREIGN_DIR / rel).is_file())
    assert not missing, f"catalogue files absent from {FOREIGN_DIR}: {missing}"
    every = {str(p.relative_to(FOREIGN_DIR)) for p in FOREIGN_DIR.rglob("*.bpmn")}
    assert not every - used, f"diagrams in no catalogue entry: {sorted(every - used)}"
    for entry in CATALOGUE:
        assert entry["expect"] in ("run", "waits", "refuse", "incident"), entry["id"]
        assert entry["reason"], entry["id"]
        if entry["expect"] in ("refuse", "incident"):
            assert entry.get("match"), f"{entry['id']}: a refusal or failure names what the message must say"
        ids = _bpmn_ids(entry["files"])
        if entry["start"] is not None:
            assert entry["start"] in ids, f"{entry['id']}: no process {entry['start']!r} in its files"
        unknown = [t for t in entry.get("tasks", {}) if t not in ids and not re.match(r"Activity_", t)]
        assert not unknown, f"{entry['id']}: tasks {unknown} are not in its diagrams"
    assert ROLES_USED <= set(ROLES), f"role maps name unknown roles: {ROLES_USED - set(ROLES)}"
