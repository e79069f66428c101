"""A demo bureau built from the seed notices: province → city → two county bureaus → three schools, users for every
role at every level, hazards in several states."""
from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, select

from engine.campaigns.checklists import items_for_unit, load_shipped
from engine.campaigns.models import ChecklistTemplate
from engine.campaigns.service import Campaigns
from engine.drills.service import Drills
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask
from engine.rectification.hazards import report_hazard
from engine.schedules.seeds import install_set

DEMO_PASSWORD = "demo1234"
DEMO_EMAIL_DOMAIN = "demo.rectiflow.local"

# (code, name) of the school's units, from seeds 000 and 001.
UNITS = [
    ("baowei", "保卫处"), ("houqin", "后勤管理处"), ("xuesheng", "学生处"), ("jiaowu", "教务处"),
    ("dangzheng", "党政办公室"), ("jidian", "机电工程学院"), ("xinxi", "信息工程学院"), ("caijing", "财经商贸学院"),
]

# username, display name, home unit code (None = school), [(role, scope)] where scope is unit/school/bureau
USERS = [
    ("security", "王保卫", "baowei", [("security_office", "school")]),
    ("security2", "李安全", "baowei", [("security_office", "school")]),
    ("staff_jd", "张机电", "jidian", [("department_staff", "unit")]),
    ("staff_jd2", "赵实训", "jidian", [("department_staff", "unit")]),
    ("head_jd", "刘院长", "jidian", [("department_head", "unit")]),
    ("staff_hq", "陈后勤", "houqin", [("department_staff", "unit")]),
    ("head_hq", "周处长", "houqin", [("department_head", "unit")]),
    ("grid_hq", "孙网格", "houqin", [("grid_officer", "unit"), ("department_staff", "unit")]),
    ("inspector", "吴检查", "baowei", [("inspector", "school")]),
    ("leader", "郑校长", None, [("leader", "school")]),
    ("bureau", "钱督导", "bureau", [("supervisor", "bureau")]),
    ("designer", "冯设计", "xinxi", [("process_designer", "school")]),
    ("admin", "管理员", None, [("admin", "school")]),
]


# Seed 001's offices the first demo left out (added after the units above, so their ids do not move).
MORE_UNITS = [
    ("keji", "科技开发处"), ("zichan", "资产管理处"), ("tuanwei", "团委"), ("xinli", "心理健康中心"),
    ("zongwu", "总务基建处"), ("jingwu", "学院警务室"),
]

# 工号 of the first school's users, in USERS order (XD = 兰州现代职业学院; `bureau` is 城关区教育局's CG001).
EMPLOYEE_NO = {u: f"XD{n:03d}" for n, u in enumerate((u for u, *_ in USERS if u != "bureau"), start=1)} | {
    "bureau": "CG001"}

# The rest of the bureau: (key, kind, name, code, parent key). gs-lz-cg and the first school are built above.
TREE = [
    ("qlh", "county", "七里河区教育局", "gs-lz-qlh", "city"),
    # Seed 002's shape: 各处室、各二级学院、高级技工学校、职教中心学校 and 附属医院.
    ("hh", "school", "兰州黄河职业技术学院", "gs-lz-qlh-hhzy", "qlh"),
    ("zx", "school", "兰州市七里河中学", "gs-lz-qlh-qlhzx", "qlh"),
]
# school key → [(code, name, unit_type)]
SCHOOL_UNITS = {
    "hh": [("dangzheng", "党政办公室", "office"), ("baowei", "安全保卫处", "office"),
           ("zongwu", "总务基建处", "office"), ("jiaowu", "教务处", "office"), ("xuesheng", "学生工作处", "office"),
           ("zhizao", "智能制造学院", "college"), ("huli", "医学护理学院", "college"),
           ("jigong", "附属高级技工学校", "affiliate"), ("zhijiao", "附属职教中心学校", "affiliate"),
           ("yiyuan", "附属医院", "affiliate")],
    "zx": [("zhengjiao", "政教处", "office"), ("jiaowu", "教务处", "office"), ("zongwu", "总务处", "office"),
           ("anquan", "安全办", "office"), ("gaoyi", "高一年级组", None), ("chuer", "初二年级组", None)],
}
# username, display name, 工号, home (an org key, or "school.unit"), [(role, scope key)] ("home" = the home node)
MORE_USERS = [
    # 甘肃省教育厅 and 兰州市教育局
    ("province", "马督导", "GS001", "province", [("supervisor", "home")]),
    ("leader_province", "杨厅长", "GS002", "province", [("leader", "home")]),
    ("admin_province", "省厅管理员", "GS003", "province", [("admin", "home")]),
    ("city", "何督导", "LZ001", "city", [("supervisor", "home")]),
    ("leader_city", "罗局长", "LZ002", "city", [("leader", "home")]),
    ("admin_city", "市局管理员", "LZ003", "city", [("admin", "home")]),
    # 城关区教育局 (its supervisor is `bureau`, above)
    ("sec_cg", "高安全", "CG002", "cg", [("security_office", "home")]),
    ("leader_cg", "林局长", "CG003", "cg", [("leader", "home")]),
    ("admin_cg", "城关区管理员", "CG004", "cg", [("admin", "home")]),
    # 七里河区教育局
    ("bureau_qlh", "胡督导", "QLH001", "qlh", [("supervisor", "home")]),
    ("sec_qlh", "郭安全", "QLH002", "qlh", [("security_office", "home")]),
    ("leader_qlh", "谢局长", "QLH003", "qlh", [("leader", "home")]),
    ("admin_qlh", "七里河区管理员", "QLH004", "qlh", [("admin", "home")]),
    # 兰州黄河职业技术学院
    ("sec_hh", "韩保卫", "HH001", "hh.baowei", [("security_office", "hh")]),
    ("leader_hh", "唐校长", "HH002", "hh", [("leader", "hh")]),
    ("admin_hh", "黄河管理员", "HH003", "hh", [("admin", "hh")]),
    ("staff_hh_zw", "曹基建", "HH004", "hh.zongwu", [("department_staff", "home")]),
    ("head_hh_zw", "许处长", "HH005", "hh.zongwu", [("department_head", "home")]),
    ("staff_hh_zz", "邓实训", "HH006", "hh.zhizao", [("department_staff", "home")]),
    ("head_hh_zz", "冯院长", "HH007", "hh.zhizao", [("department_head", "home")]),
    ("staff_hh_yy", "彭护士", "HH008", "hh.yiyuan", [("department_staff", "home")]),
    ("head_hh_yy", "曾院长", "HH009", "hh.yiyuan", [("department_head", "home")]),
    ("staff_hh_jg", "萧老师", "HH010", "hh.jigong", [("department_staff", "home")]),
    ("head_hh_jg", "田校长", "HH011", "hh.jigong", [("department_head", "home")]),
    # 兰州市七里河中学
    ("sec_zx", "董安全", "ZX001", "zx.anquan", [("security_office", "zx")]),
    ("leader_zx", "袁校长", "ZX002", "zx", [("leader", "zx")]),
    ("admin_zx", "七里河中学管理员", "ZX003", "zx", [("admin", "zx")]),
    ("staff_zx_zw", "潘总务", "ZX004", "zx.zongwu", [("department_staff", "home")]),
    ("head_zx_zw", "蒋主任", "ZX005", "zx.zongwu", [("department_head", "home")]),
    ("staff_zx_g1", "蔡老师", "ZX006", "zx.gaoyi", [("department_staff", "home")]),
    ("head_zx_g1", "余组长", "ZX007", "zx.gaoyi", [("department_head", "home")]),
]
# The units whose head is this user (head_user_id), beside 机电工程学院's and 后勤管理处's.
MORE_HEADS = {"head_hh_zw": "hh.zongwu", "head_hh_zz": "hh.zhizao", "head_hh_yy": "hh.yiyuan",
              "head_hh_jg": "hh.jigong", "head_zx_zw": "zx.zongwu", "head_zx_g1": "zx.gaoyi"}


def demo_phone(username: str) -> str:
    """A unique, made-up mobile number per demo user (139 0931 …, 0931 being 兰州's area code)."""
    order = [u for u, *_ in USERS] + [u for u, *_ in MORE_USERS]
    return f"1390931{order.index(username) + 1:04d}"


def name_is_college(name: str) -> bool:
    """The demo's colleges (二级学院) are the units whose names end in 学院; the rest are offices."""
    return name.endswith("学院")


def _role_label(grants) -> str:
    return ", ".join(role for role, _ in grants)


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, name, roles) of every demo user: the first school's first, then the levels above and the
    other schools (roles followed by the organisation)."""
    names = {key: name for key, _, name, _, _ in TREE}
    names.update(province="甘肃省教育厅", city="兰州市教育局", cg="城关区教育局")
    first = [(u, n, _role_label(g)) for u, n, _, g in USERS]
    return first + [(u, n, f"{_role_label(g)} · {names[home.split('.')[0]]}") for u, n, _, home, g in MORE_USERS]


def build_demo(services) -> list[tuple[str, str, str]]:
    """Create the demo once (a second run changes nothing) and return the logins.

    A bureau: 甘肃省教育厅 → 兰州市教育局 → 城关区教育局 (兰州现代职业学院, with its hazards, campaign, schedules and
    repair) and 七里河区教育局 (a seed 002 college with 附属单位, and a middle school). A demo built before the
    bureau existed gets the rest added on the next run."""
    password_hash = accounts.hash_password(DEMO_PASSWORD)  # once: scrypt costs ~150 ms a user
    if demo_state(services) == "none":
        _build_first_school(services, password_hash)
    _build_bureau(services, password_hash)
    return demo_logins()


def demo_state(services) -> str:
    """"none" (no demo built yet), "demo" (the demo's users, and people added without an e-mail) or "other" (a
    `security` user or an e-mail that is not the demo's: real people's data)."""
    with services.uow() as uow:
        s = uow.session
        security = s.scalars(select(User).where(User.username == "security")).first()
        if security is None:
            return "none"
        foreign = s.scalars(select(User.id).where(User.email.is_not(None),
                                                  User.email.not_like(f"%@{DEMO_EMAIL_DOMAIN}")).limit(1)).first()
        return "demo" if security.email and foreign is None else "other"


def wipe_database(database_url: str) -> None:
    """Delete everything a demo database holds: its SQLite file, or every table elsewhere (PostgreSQL)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(url.database + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in inspect(conn).get_table_names():  # Alembic's version table too: the schema is built anew
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
            # The migrations' trigger functions (events_append_only); not those an extension brought.
            for function in conn.exec_driver_sql(
                    "SELECT p.oid::regprocedure::text FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = current_schema() "
                    "WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
            ).scalars().all():
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    finally:
        engine.dispose()


def _build_first_school(services, password_hash: str) -> None:
    with services.uow() as uow:
        s = uow.session
        province = accounts.add_org(s, "province", "甘肃省教育厅", "gs")
        city = accounts.add_org(s, "city", "兰州市教育局", "gs-lz", province)
        bureau = accounts.add_org(s, "county", "城关区教育局", "gs-lz-cg", city)
        school = accounts.add_org(s, "school", "兰州现代职业学院", "gs-lz-cg-xdzy", bureau)
        units = {code: accounts.add_org(s, "unit", name, f"{school.code}-{code}", school) for code, name in UNITS}
        for code, unit in units.items():  # checklists name 各二级学院 and 机关各处室 by these
            unit.unit_type = "college" if name_is_college(unit.name) else "office"
        accounts.add_org(s, "grid", "后勤管理处·学生食堂网格", f"{school.code}-houqin-canteen", units["houqin"])
        now = services.clock.now()
        for username, name, home, grants in USERS:
            org = bureau if home == "bureau" else (school if home is None else units[home])
            scopes = {"school": school, "bureau": bureau, "unit": org}
            accounts.add_user(s, username, name, None, org, now,
                              roles=[(role, scopes[scope]) for role, scope in grants],
                              email=f"{username}@{DEMO_EMAIL_DOMAIN}", password_hash=password_hash,
                              employee_no=EMPLOYEE_NO[username], phone=demo_phone(username))
        for unit_code, head in (("jidian", "head_jd"), ("houqin", "head_hq")):
            units[unit_code].head_user_id = s.scalars(select(User.id).where(User.username == head)).one()
        units["jidian"].headcount, units["houqin"].headcount = 320, 85  # drills and education count against these
        uow.commit()
        ids = {u.username: u.id for u in s.scalars(select(User))}
        unit_ids = {code: node.id for code, node in units.items()}
        school_id = school.id
    _demo_hazards(services, ids, unit_ids)
    _demo_campaign(services, ids, unit_ids)
    install_set(services, school_id, ids["security"])  # seed 004's recurring inspections and semester drills
    _demo_repair(services, ids)
    _demo_event_plan(services, ids, unit_ids)


def _build_bureau(services, password_hash: str) -> None:
    """The first school's other offices, 七里河区教育局 with its two schools, and users at every level; skipped
    when 七里河区教育局 exists."""
    with services.uow() as uow:
        s = uow.session
        if s.scalars(select(OrgNode).where(OrgNode.code == "gs-lz-qlh")).first() is not None:
            return
        by_code = {n.code: n for n in s.scalars(select(OrgNode).where(
            OrgNode.code.in_(("gs", "gs-lz", "gs-lz-cg", "gs-lz-cg-xdzy"))))}
        school = by_code["gs-lz-cg-xdzy"]
        for user in s.scalars(select(User).where(User.username.in_(EMPLOYEE_NO), User.employee_no.is_(None))):
            user.employee_no, user.phone = EMPLOYEE_NO[user.username], demo_phone(user.username)  # an older demo's
        for code, name in MORE_UNITS:
            accounts.add_org(s, "unit", name, f"{school.code}-{code}", school).unit_type = "office"
        nodes = {"province": by_code["gs"], "city": by_code["gs-lz"], "cg": by_code["gs-lz-cg"], "xdzy": school}
        for key, kind, name, code, parent in TREE:
            nodes[key] = accounts.add_org(s, kind, name, code, nodes[parent])
        for key, units in SCHOOL_UNITS.items():
            for code, name, unit_type in units:
                unit = accounts.add_org(s, "unit", name, f"{nodes[key].code}-{code}", nodes[key])
                unit.unit_type = unit_type
                nodes[f"{key}.{code}"] = unit
        now = services.clock.now()
        users = {}
        for username, name, employee_no, home, grants in MORE_USERS:
            org = nodes[home]
            users[username] = accounts.add_user(
                s, username, name, None, org, now,
                roles=[(role, org if scope == "home" else nodes[scope]) for role, scope in grants],
                email=f"{username}@{DEMO_EMAIL_DOMAIN}", password_hash=password_hash,
                employee_no=employee_no, phone=demo_phone(username))
        for head, unit_key in MORE_HEADS.items():
            nodes[unit_key].head_user_id = users[head].id
        uow.commit()
        ids = {u: user.id for u, user in users.items()}
        unit_ids = {k: n.id for k, n in nodes.items()}
    _bureau_hazards(services, ids, unit_ids)


def _bureau_hazards(services, ids: dict[str, int], units: dict[str, int]) -> None:
    """A few hazards in the other schools, so their inboxes and 七里河区's are not empty."""
    today = services.clock.now().date()
    in_days = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731
    report = functools.partial(report_hazard, services)
    # 黄河: one just reported (附属医院), one registered and waiting for 总务基建处's plan.
    report(ids["staff_hh_yy"], {"location": "附属医院门诊楼2层", "check_item": "消防设施",
                                "problem": "消防栓箱被药品柜遮挡", "category": "消防", "source": "self_check",
                                "checked_at": today.isoformat()})
    h = report(ids["staff_hh_zw"], {"location": "学生宿舍6号楼", "check_item": "冬季取暖安全",
                                     "problem": "宿舍内私接电暖器，插线板过载", "category": "消防",
                                     "source": "patrol"})
    _do(services, h.id, ids["sec_hh"], {"grade": "general", "responsible_unit_id": units["hh.zongwu"],
                                        "responsible_person": "许处长", "deadline": in_days(7)})
    # 七里河中学: one just reported.
    report(ids["staff_zx_zw"], {"location": "教学楼东侧楼梯", "check_item": "防坠设施",
                                "problem": "三楼楼梯护栏松动", "category": "建筑与施工", "source": "self_check",
                                "checked_at": today.isoformat()})


def _next_task(services, hazard_id: int) -> HumanTask:
    with services.uow() as uow:
        return uow.session.scalars(
            select(HumanTask).where(HumanTask.hazard_id == hazard_id, HumanTask.state == TaskState.READY)
            .order_by(HumanTask.id.desc())
        ).first()


def _do(services, hazard_id: int, user_id: int, data: dict, bpmn_id: str | None = None) -> None:
    with services.uow() as uow:
        stmt = select(HumanTask).where(HumanTask.hazard_id == hazard_id, HumanTask.state == TaskState.READY)
        if bpmn_id:
            stmt = stmt.where(HumanTask.bpmn_id == bpmn_id)
        task = uow.session.scalars(stmt.order_by(HumanTask.id)).first()
    services.complete_task(task.id, user_id, data)


def _demo_hazards(services, ids: dict[str, int], units: dict[str, int]) -> None:
    today = services.clock.now().date()
    in_days = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731
    report = functools.partial(report_hazard, services)

    # 1. Just reported: waits for the security office to register and grade it.
    report(ids["staff_hq"], {"location": "学生公寓3号楼2层走廊", "check_item": "灭火器是否在有效期内",
                             "problem": "2具干粉灭火器压力不足，已过检验期", "category": "消防",
                             "source": "self_check", "checked_at": today.isoformat()})
    # 2. Registered as general, waiting for the unit's rectification plan.
    h = report(ids["staff_jd"], {"location": "机电实训楼A102", "check_item": "实训设备安全防护",
                                  "problem": "车床防护罩缺失，学生操作存在卷入风险", "category": "实训实验室",
                                  "source": "joint_inspection"})
    _do(services, h.id, ids["security"], {"grade": "general", "responsible_unit_id": units["jidian"],
                                          "responsible_person": "刘院长", "deadline": in_days(7)})
    # 3. Plan filed, rectification under way.
    h = report(ids["grid_hq"], {"location": "学生食堂后厨", "check_item": "燃气管道及报警装置",
                                 "problem": "燃气泄漏报警器未接入值班室", "category": "食品卫生",
                                 "source": "patrol"})
    _do(services, h.id, ids["security"], {"grade": "general", "responsible_unit_id": units["houqin"],
                                          "responsible_person": "周处长", "deadline": in_days(5)})
    _do(services, h.id, ids["head_hq"], {"plan_owner": "周处长", "plan_measures": "报警器联网至值班室，增设声光报警",
                                         "plan_deadline": in_days(5), "plan_contingency": "每日人工巡检两次",
                                         "plan_funds": "3000元"})
    # 4. Rectified, waiting for acceptance by the security office.
    h = report(ids["staff_jd"], {"location": "机电实训楼配电间", "check_item": "配电设施",
                                  "problem": "配电柜前堆放杂物，无绝缘垫", "category": "消防", "source": "self_check"})
    _do(services, h.id, ids["security"], {"grade": "general", "responsible_unit_id": units["jidian"],
                                          "responsible_person": "刘院长", "deadline": in_days(3)})
    _do(services, h.id, ids["head_jd"], {"plan_owner": "刘院长", "plan_measures": "清理杂物，铺设绝缘垫",
                                         "plan_deadline": in_days(3), "plan_contingency": "配电间上锁"})
    _do(services, h.id, ids["staff_jd2"], {"measures": "已清理杂物并铺设绝缘垫", "completion": "已完成，附照片"})
    # 5. Major hazard: reported upward at once to the bureau, plan pending.
    h = report(ids["staff_hq"], {"location": "学生公寓5号楼地下室", "check_item": "宿舍设置",
                                  "problem": "地下室被用作学生宿舍", "category": "建筑与施工", "source": "supervision"})
    _do(services, h.id, ids["security"], {"grade": "major", "responsible_unit_id": units["houqin"],
                                          "responsible_person": "周处长", "deadline": in_days(30)})
    # 6. Fixed on the spot, accepted and closed: archived.
    h = report(ids["staff_jd"], {"location": "信息工程学院机房", "check_item": "安全出口",
                                  "problem": "安全出口被桌椅堵塞", "category": "消防", "source": "joint_inspection"})
    _do(services, h.id, ids["security"], {"grade": "general", "responsible_unit_id": units["jidian"],
                                          "responsible_person": "刘院长", "deadline": in_days(1), "onsite_fix": True})
    _do(services, h.id, ids["staff_jd"], {"measures": "现场清理通道", "completion": "已当场整改"})
    _do(services, h.id, ids["security"], {"accepted": True, "opinion": "通道畅通，验收合格"})
    _do(services, h.id, ids["security2"], {"closing_note": "同意销号"})


def _demo_campaign(services, ids: dict[str, int], units: dict[str, int]) -> None:
    """A running campaign from seed 001's checklist over every unit: one unit signed, one part-way, one started."""

    today = services.clock.now().astimezone(CHINA).date()
    day = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731
    with services.uow() as uow:
        s = uow.session
        load_shipped(s, services.bpmn_dir, services.clock.now())  # as `rectiflow checklist load-shipped` does
        uow.commit()
        template = s.scalars(select(ChecklistTemplate).where(ChecklistTemplate.name == "seed001_twelve_areas")).one()
        items = {code: [i.id for i in items_for_unit(template, s.get(OrgNode, org_id))]
                 for code, org_id in units.items()}
    # Seed 001's rhythm from today: three weeks of self-check, then joint inspection, a month of rectification,
    # supervision; statistics reported every two weeks.
    stages = {"self_check": {"start": day(-2), "end": day(21)}, "joint_inspection": {"start": day(22), "end": day(28)},
              "rectification": {"start": day(22), "end": day(52)}, "supervision": {"start": day(53), "end": day(67)},
              "report_dates": [day(14), day(28), day(42), day(56)]}
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(ids["security"], f"{today.year}年校园安全专项整治", template.id,
                                         list(units.values()), stages)

    # 后勤管理处 answered every item and its head signed the report: it waits for the security office's review.
    def do(unit_id: int, bpmn_id: str, user_id: int, data: dict) -> None:
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(
                HumanTask.bpmn_id == bpmn_id, HumanTask.state == TaskState.READY, HumanTask.candidate_org_id == unit_id)).one()
        services.complete_task(task.id, user_id, data)

    hq = items["houqin"]  # the last but one is 建筑与施工安全整治
    campaigns.record_item_results(ids["staff_hq"], campaign.id, units["houqin"],
                                  [{"item_id": i, "result": "checked", "note": "已逐项检查"} for i in hq if i != hq[-2]]
                                  + [{"item_id": hq[-2], "result": "na", "note": "本处无在建项目"}])
    do(units["houqin"], "work_checklist", ids["staff_hq"], {"remarks": "已逐项自查"})
    do(units["houqin"], "sign_self_check", ids["head_hq"], {"signer_name": "周处长", "opinion": "同意上报"})
    # 机电工程学院 is part-way and found a hazard, which is now in its own rectification loop.
    jd = items["jidian"]
    campaigns.record_item_results(ids["staff_jd"], campaign.id, units["jidian"], [
        {"item_id": jd[0], "result": "checked"}, {"item_id": jd[1], "result": "checked", "note": "名单已张贴"},
        {"item_id": jd[2], "result": "checked"},
        {"item_id": jd[-3], "result": "hazard", "location": "机电实训楼B103",
         "hazard": {"problem": "实训室乙炔气瓶未固定，无防倾倒措施", "category": "危险化学品", "checked_at": today.isoformat()}},
    ])
    # 保卫处 has just started.
    campaigns.record_item_results(ids["security"], campaign.id, units["baowei"],
                                  [{"item_id": i, "result": "checked"} for i in items["baowei"][:2]])


def _demo_repair(services, ids: dict[str, int]) -> None:
    """设施报修, the general process with no subject code, started as 发起流程 does: 刘院长 has it to approve."""
    services.start_process("facility_repair", ids["staff_jd"], {
        "location": "机电实训楼二楼东侧楼梯间", "facility": "应急照明灯",
        "description": "断电测试时不亮，疑似蓄电池失效", "urgency": "urgent"}, "报修-001")


def _demo_event_plan(services, ids: dict[str, int], unit_ids: dict[str, int]) -> None:
    """A 大型活动安全预案 filed by 机电工程学院 from 发起流程, waiting for 刘院长's 部门审核; and the college's first
    safety-education session of the semester."""
    event_day = (services.clock.now().astimezone(CHINA).date() + timedelta(days=14)).isoformat()
    services.start_process("event_safety_plan", ids["staff_jd"], {
        "event_name": "机电工程学院技能文化节", "event_date": event_day, "event_time": "14:00—17:00",
        "place": "机电实训楼前广场", "expected_participants": 600, "organiser": "机电工程学院",
        "safety_measures": "分区入场，设安全引导员10名，疏散通道保持畅通，实训设备断电",
        "emergency_plan": "突发情况由东、西两侧通道疏散，医务室人员驻场，保卫处值班人员到场",
        "responsible_person": "刘院长"})
    Drills(services).record_education(ids["staff_jd"], unit_ids["jidian"], {
        "held_on": services.clock.now().astimezone(CHINA).date().isoformat(), "topic": "实训室安全操作专题教育",
        "class_hours": 2, "participants": 300})
