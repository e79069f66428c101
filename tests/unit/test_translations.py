"""Every user-facing string in the web layer has an English translation that is neither empty nor fuzzy."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def _source_msgids() -> set[str]:
    with open(ROOT / "web" / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "_l": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def test_every_web_string_is_translated_into_english():
    with open(ROOT / "web/translations/en/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    missing = sorted(m for m in _source_msgids()
                     if m not in catalog or not catalog[m].string or catalog[m].fuzzy)
    assert missing == [], f"run `make translations` and translate: {missing}"
