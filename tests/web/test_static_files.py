"""Static files: every link carries the hash of the file's bytes, a hashed URL is kept for a year, and the bytes
travel compressed when the browser asks (gzip, br)."""
from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest

from engine.infra.config import Settings
from web.app import create_app

STATIC = Path(__file__).parents[2] / "web" / "static"
TEMPLATES = Path(__file__).parents[2] / "web" / "templates"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def client(tmp_path):
    """A visitor's client (static files and the sign-in page's links need no database)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/unused.sqlite3", secret_key="test-secret",
                              upload_dir=tmp_path / "uploads"))
    return app.test_client()


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'(?:href|src)="(/static/[^"]+)"', html)]


def test_every_static_link_on_a_page_carries_the_hash_of_the_files_bytes(client):
    links = _links(client.get("/no-such-page").get_data(as_text=True))  # the error page has base.html's links
    assert any("bootstrap.min.css" in link for link in links) and any("app.js" in link for link in links)
    for link in links:
        path, _, version = link.partition("?v=")
        expected = hashlib.sha256((STATIC / path.removeprefix("/static/")).read_bytes()).hexdigest()[:16]
        assert version == expected, link


def test_templates_link_static_files_only_through_url_for():
    for template in TEMPLATES.rglob("*.html"):
        assert not re.search(r'(?:href|src)="/static/', template.read_text(encoding="utf-8")), template


def test_a_hashed_static_file_is_cached_for_a_year_and_sent_compressed(client):
    link = next(link for link in _links(client.get("/no-such-page").get_data(as_text=True))
                if "bootstrap.min.css" in link)
    raw = (STATIC / "vendor/bootstrap/bootstrap.min.css").read_bytes()
    zipped = client.get(link, headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Cache-Control"] == IMMUTABLE and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == raw and int(zipped.headers["Content-Length"]) < len(raw) / 4
    again = client.get(link, headers={"Accept-Encoding": "gzip"})  # from Flask-Compress's cache: the same bytes
    assert again.data == zipped.data
    br = client.get(link, headers={"Accept-Encoding": "br, gzip"})
    assert br.headers["Content-Encoding"] == "br" and brotli.decompress(br.data) == raw
    plain = client.get(link)
    assert "Content-Encoding" not in plain.headers and plain.data == raw
    revalidated = client.get(link, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.headers["Cache-Control"] == IMMUTABLE


def test_a_static_file_asked_without_its_current_hash_is_revalidated_not_kept(client):
    for url in ("/static/css/app.css", "/static/css/app.css?v=0123456789abcdef"):  # none, or from before a deploy
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache", url
        assert response.headers["Content-Encoding"] == "gzip"


def test_a_range_request_gets_exactly_the_bytes_it_names(client):
    with client.get("/static/css/app.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"}) as response:
        assert response.status_code == 206 and "Content-Encoding" not in response.headers
        assert response.data == (STATIC / "css/app.css").read_bytes()[:10]
