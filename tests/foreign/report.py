"""Run the foreign walk over every catalogue entry and print N of M, and for each that does not work, why.

    python -m tests.foreign.report [--only ID_SUBSTRING] [--verbose]

The same walk as tests/foreign/test_foreign_walk.py (one fresh SQLite database per entry, the Flask test client and
the REST API), without pytest. Exit status 0 when every entry behaves as the catalogue expects, 1 otherwise.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from .catalogue import CATALOGUE
from .walk import Outcome, Walker, foreign_dir_problem, make_template, walk


# Families of failure, most specific first: (text in the reason, what it means for a designer's diagram).
FAMILIES = [
    ("should have been refused", "deployed although it must be refused (unknown operator, print, bad template...)"),
    ("not for the expected reason", "refused, but for another reason than the catalogue's (often: only one file "
                                    "of the bundle arrived)"),
    ("no walker's inbox shows it", "an open task reaches nobody's inbox (no lane, or a lane that is no role)"),
    ("no such API endpoint: /messages", "no messages API (POST /api/v1/messages)"),
    ("was not found. Did you mean", "a call activity's callee is not in the upload (bundle deploy)"),
    ("does not exist", "a form file is not in the upload (bundle deploy)"),
    ("was not deployed", "a bundle's second process was not deployed (bundle deploy)"),
    ("expected exactly one executable process", "several executable pools in one file (collaboration)"),
    ("No DMN Diagram available", "a DMN decision is not available (DMN in bundles, camunda:decisionRef)"),
    ("syntax error in BPMN expression", "a Camunda JUEL expression is not translated"),
    ("is not defined", "a script or expression names something the environment lacks"),
    ("The attribute", "the XSD check rejects a vendor attribute or a modeller's quirk"),
    ("is not a valid value of the atomic type", "the XSD check rejects a modeller's quirk"),
    ("running with no open user task", "waits for an event the walk could not give (message, signal, timer)"),
    ("does not name", "failed, but the message does not name the cause"),
]


def family(outcome) -> str:
    """The family of a failure reason, so the summary can count them."""
    for needle, meaning in FAMILIES:
        if needle in outcome.reason:
            return meaning
    return f"{outcome.stage}: {re.sub(r'[0-9]+', 'N', outcome.reason)[:90]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only entries whose id contains this text")
    parser.add_argument("--verbose", action="store_true", help="print each entry's trail of steps")
    args = parser.parse_args(argv)
    problem = foreign_dir_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    entries = [e for e in CATALOGUE if not args.only or args.only in e["id"]]
    outcomes = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="foreign-walk-") as tmp:
        template = Path(tmp) / "template.sqlite3"
        make_template(template)
        for n, entry in enumerate(entries):
            walker = Walker(template, Path(tmp) / f"e{n}")
            try:
                outcome = walk(entry, walker)
            except Exception as exc:  # a harness or engine crash is a finding too, not the end of the report
                outcome = Outcome(entry["id"]).fail("crash", f"{type(exc).__name__}: {exc}")
            finally:
                walker.close()
            outcomes.append((entry, outcome))
            mark = "ok  " if outcome.ok else "FAIL"
            print(f"{mark} {entry['id']:<55} [{entry['expect']}] {outcome.stage}: {outcome.reason[:160]}")
            if args.verbose:
                print("      " + " → ".join(outcome.steps))
    good = [o for _, o in outcomes if o.ok]
    print()
    print(f"{len(good)} of {len(outcomes)} entries behave as the catalogue expects "
          f"({time.monotonic() - started:.0f} s)")
    by_expect = Counter((e["expect"], o.ok) for e, o in outcomes)
    for expect in ("run", "waits", "refuse", "incident"):
        total = by_expect[(expect, True)] + by_expect[(expect, False)]
        if total:
            print(f"  {expect:<9} {by_expect[(expect, True)]} of {total}")
    failures = [(e, o) for e, o in outcomes if not o.ok]
    if failures:
        print("\nWhy the others do not (most common first):")
        families: dict[str, list[str]] = {}
        for entry, outcome in failures:
            families.setdefault(family(outcome), []).append(entry["id"])
        for name, ids in sorted(families.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(ids[:6]) + (f", … ({len(ids) - 6} more)" if len(ids) > 6 else "")
            print(f"  {len(ids):>3} × {name}\n        {shown}")
        needs = Counter(need for e, _ in failures for need in e.get("needs", []))
        print("\nFeatures the failing entries exercise: " + ", ".join(f"{k} {v}" for k, v in needs.most_common()))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
