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


def _reason_kind(reason: str) -> str:
    """A short family name for a failure reason, so the summary can count them."""
    text = re.sub(r"\d+", "N", reason)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", text)
    return text[:110]


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
    for expect in ("run", "refuse", "incident"):
        total = by_expect[(expect, True)] + by_expect[(expect, False)]
        if total:
            print(f"  {expect:<9} {by_expect[(expect, True)]} of {total}")
    failures = [(e, o) for e, o in outcomes if not o.ok]
    if failures:
        print("\nWhy the others do not (most common first):")
        kinds = Counter(f"{o.stage}: {_reason_kind(o.reason)}" for _, o in failures)
        for kind, count in kinds.most_common(15):
            print(f"  {count:>3} × {kind}")
        needs = Counter(need for e, _ in failures for need in e.get("needs", []))
        print("\nFeatures the failing entries exercise: " + ", ".join(f"{k} {v}" for k, v in needs.most_common()))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
