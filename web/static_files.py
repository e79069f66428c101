"""Static files for a phone network: content-hashed URLs kept for a year, answered compressed (Flask-Compress).

Every `url_for('static', filename=...)` gets `?v=<hash of the file's bytes>` (computed once per process), so a
deploy that changes a file changes its URL and a browser may keep what it fetched for good. A request whose `v`
is the file's current hash is answered `public, max-age=31536000, immutable`; any other (no `v`, or a hash from
before a deploy) keeps Flask's `no-cache`, revalidated by its ETag.

Only static files are compressed: the pages carry a CSRF token next to text a user typed, which compression
over TLS would let an attacker guess byte by byte (BREACH).
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, Response, current_app, request
from flask_compress import Compress, DictCache

VERSION_ARG = "v"
ONE_YEAR = 365 * 24 * 3600


@cache
def digest(folder: str, filename: str) -> str | None:
    """A short hash of a static file's bytes (None when there is no such file), read once per process."""
    root = Path(folder).resolve()
    path = (root / filename).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def init_static_files(app: Flask) -> None:
    """Hash every static URL, cache hashed ones for a year, compress static answers with gzip, br or zstd."""
    app.config.setdefault("COMPRESS_REGISTER", False)  # not the pages (see the module's docstring)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", DictCache)  # each file compressed once per encoding
    app.config.setdefault("COMPRESS_CACHE_KEY", _cache_key)
    # Compressed once per process, so the slower, tighter levels: all of web/static in 0.4 s, 138 KB in br
    # (at Flask-Compress's default 4 its brotli is larger than gzip: bootstrap.css 33 KB against 31 KB).
    app.config.setdefault("COMPRESS_BR_LEVEL", 9)
    app.config.setdefault("COMPRESS_ZSTD_LEVEL", 12)
    compress = Compress(app)

    @app.url_defaults
    def _hashed_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and VERSION_ARG not in values:
            version = digest(app.static_folder, values["filename"])
            if version:
                values[VERSION_ARG] = version

    @app.after_request
    def _static_answer(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code not in (200, 304):
            return response  # a 206 (Range) must stay the bytes it names
        version = digest(app.static_folder, request.view_args.get("filename", ""))
        if version and request.args.get(VERSION_ARG) == version:
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        if response.status_code == 200 and version:
            # send_file streams the file; read it whole (and close it now) so that Flask-Compress gzips it as one
            # body, which it may keep in its cache, rather than as a stream (no gzip, nothing kept).
            stream = response.response
            response.direct_passthrough = False
            response.make_sequence()
            if hasattr(stream, "close"):
                stream.close()
            return compress.after_request(response)
        return response


def _cache_key(req) -> str:
    """The file and the hash this process serves it under (whatever `v` the request named)."""
    return f"{req.path}?{VERSION_ARG}={digest(current_app.static_folder, req.view_args['filename'])}"
