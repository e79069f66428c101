"""Write the shipped onboarding samples: samples/bureau-orgs.xlsx (org tree) and samples/bureau-roster.xlsx (people).

One county bureau with three schools (a vocational college, a college with an affiliated school and hospital, a
middle school) and about 200 people covering every role. The rows are fixed (only the workbooks' timestamps change).
Usage: python scripts/make_samples.py [OUTPUT_DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

from engine.admin.imports import ORG_COLUMNS, ROSTER_COLUMNS, write_xlsx

ROOT = [("", "sample-gs", "甘肃省教育厅", "甘肃省", "省"), ("sample-gs", "sample-lz", "兰州市教育局", "兰州市", "市"),
        ("sample-lz", "sample-ag", "安宁区教育局", "安宁区", "区县")]
SCHOOLS = {
    "sample-zy": ("兰州示范职业学院", "示范职院", [
        ("bw", "保卫处", "机关处室"), ("kj", "科技开发处", "机关处室"), ("zc", "资产管理处", "机关处室"),
        ("tw", "团委", "机关处室"), ("xl", "心理健康中心", "机关处室"), ("zw", "总务基建处", "机关处室"),
        ("jw", "学院警务室", "机关处室"), ("jd", "机电工程学院", "二级学院"), ("xx", "信息工程学院", "二级学院"),
        ("cj", "财经商贸学院", "二级学院"), ("jz", "建筑工程学院", "二级学院")]),
    "sample-yx": ("兰州医学高等专科学校", "医专", [
        ("bw", "保卫处", "机关处室"), ("hq", "后勤管理处", "机关处室"), ("hl", "护理学院", "二级学院"),
        ("yx", "药学院", "二级学院"), ("fx", "附属学校", "附属单位"), ("fy", "附属医院", "附属单位")]),
    "sample-zx": ("安宁区第一中学", "安宁一中", [
        ("bw", "保卫科", "机关处室"), ("jw", "教务处", "机关处室"), ("zw", "总务处", "机关处室"),
        ("g1", "高一年级组", "单位"), ("g2", "高二年级组", "单位")]),
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def _name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 3 + 1) % len(GIVEN)]


def org_rows() -> list[list[str]]:
    rows = [list(ORG_COLUMNS), *map(list, ROOT)]
    for code, (name, short, units) in SCHOOLS.items():
        rows.append(["sample-ag", code, name, short, "学校"])
        rows += [[code, f"{code}-{u}", uname, "", kind] for u, uname, kind in units]
    return rows


def roster_rows() -> list[list[str]]:
    rows, n = [list(ROSTER_COLUMNS)], 0

    def person(unit: str, roles: str) -> None:
        nonlocal n
        n += 1
        rows.append([_name(n), f"S{n:05d}", f"139{n:08d}", f"s{n:05d}@sample.rectiflow.local", unit, roles])
    person("sample-ag", "督导组、管理员")
    person("sample-ag", "督导组")
    for code, (_, _, units) in SCHOOLS.items():
        person(code, "校领导")
        person(code, "管理员")
        person(f"{code}-bw", "保卫处")
        person(f"{code}-bw", "保卫处、联合检查组")
        for u, _, _ in units:
            person(f"{code}-{u}", "部门负责人")
            for _ in range(6 if code != "sample-zy" else 8):
                person(f"{code}-{u}", "部门工作人员")
    return rows


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_xlsx(org_rows(), out / "bureau-orgs.xlsx")
    write_xlsx(roster_rows(), out / "bureau-roster.xlsx")
    print(f"{len(org_rows()) - 1} organisations, {len(roster_rows()) - 1} people written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "samples")
