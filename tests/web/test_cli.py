"""The `rectiflow` command line, run the way an operator would, on both databases."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.timezone import CHINA
from tests.web.cli_fixtures import cli  # noqa: F401 - fixture


def test_demo_builds_an_inbox_a_user_can_work_from_the_terminal(cli):
    out = cli("demo", "--no-serve")
    assert "security" in out and "demo1234" in out
    again = cli("demo", "--no-serve")
    assert "demo1234" in again, "a second run must leave the demo as it is"
    assert "already exists and is kept as it is" in again and "rectiflow demo --reset" in again
    inbox = cli("tasks", "--user", "security")
    assert "登记评估隐患" in inbox and "整改验收" in inbox
    task_id = re.search(r"task (\d+)\s+登记评估隐患", inbox).group(1)

    bad = cli("complete", task_id, "--user", "security", "--data", json.dumps({"grade": "huge"}), code=2)
    assert "invalid_form_data" in bad and "grade" in bad

    deadline = (datetime.now(CHINA).date() + timedelta(days=30)).isoformat()  # the demo runs on the real clock
    ok_data = {"grade": "general", "responsible_unit_id": 6, "responsible_person": "陈后勤", "deadline": deadline}
    assert f"completed task {task_id}" in cli("complete", task_id, "--user", "security", "--data", json.dumps(ok_data))
    assert "制定整改方案" in cli("tasks", "--user", "head_hq", "--view", "groups")
    # The demo's 设施报修 (a process no subject owns) waits for the reporter's head, and only him.
    assert "审核报修" in cli("tasks", "--user", "head_jd", "--view", "groups")
    assert "审核报修" not in cli("tasks", "--user", "head_hq", "--view", "groups")


def test_demo_reset_builds_the_demo_anew_but_never_over_real_users(cli, database_url):
    cli("demo", "--no-serve")
    engine = create_engine(database_url)

    def name_of(username):
        with engine.connect() as conn:
            return conn.execute(text("SELECT display_name FROM users WHERE username = :u"), {"u": username}).scalar()

    try:
        with engine.begin() as conn:  # what someone did in the demo
            conn.execute(text("UPDATE users SET display_name = '改过的名字' WHERE username = 'staff_jd'"))
        engine.dispose()  # SQLite: the file is deleted and made anew
        out = cli("demo", "--no-serve", "--reset")
        assert "Deleted the old demo" in out and "already exists" not in out and "demo1234" in out
        assert name_of("staff_jd") == "张机电"
        assert "登记评估隐患" in cli("tasks", "--user", "security")

        with engine.begin() as conn:  # a real person in the database: --reset must not delete it
            conn.execute(text("UPDATE users SET email = 'wang@school.edu.cn' WHERE username = 'security2'"))
        engine.dispose()
        refused = cli("demo", "--no-serve", "--reset", code=2)
        assert "refused" in refused and "not the demo's" in refused
        assert name_of("security2") == "李安全"
    finally:
        engine.dispose()


def test_bpmn_commands_validate_deploy_and_list(cli, tmp_path):
    shipped = DEFAULT_BPMN_DIR / "hazard_rectification.bpmn"
    assert "ok" in cli("bpmn", "validate", str(shipped))
    evil = tmp_path / "evil.bpmn"
    evil.write_bytes(shipped.read_bytes().replace(b"closed = True", b"import os"))
    (tmp_path / "forms").symlink_to(DEFAULT_BPMN_DIR / "forms")
    assert "imports are not allowed" in cli("bpmn", "validate", str(evil), code=1)
    cli("upgrade")
    assert "hazard_rectification v1" in cli("bpmn", "deploy", str(shipped))
    assert "hazard_rectification" in cli("bpmn", "list")


def test_unknown_user_is_a_clear_error(cli):
    cli("upgrade")
    assert "no active user named 'nobody'" in cli("tasks", "--user", "nobody", code=2)


def test_checklist_commands_import_once_and_load_the_shipped_ones_once(cli, tmp_path):
    source = tmp_path / "清单.csv"
    source.write_text("督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,保卫处\n", encoding="utf-8")
    assert "1 items" in cli("checklist", "import", str(source), "--name", "小清单")
    taken = cli("checklist", "import", str(source), "--name", "小清单", code=2)
    assert "already exists" in taken and "name" in taken
    first = cli("checklist", "load-shipped")
    assert "seed001_twelve_areas  (12 items)" in first
    assert cli("checklist", "load-shipped") == first  # loading again adds nothing
    assert len(cli("checklist", "list").splitlines()) == 1 + len(first.splitlines())
