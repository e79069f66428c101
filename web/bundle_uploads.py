"""How an HTTP upload becomes a deployment bundle and a role map: one rule for the REST API and the 流程部署 page.

Both read multipart bodies: the files travel as `file` parts (several .bpmn/.dmn/.json files or one .zip; what a
bundle accepts, and its limits, are engine.process.bundles'), the role map as a text field holding a JSON object.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from werkzeug.datastructures import FileStorage

from engine.process.bundles import Bundle


def bundle_from_files(files: Iterable[FileStorage]) -> Bundle:
    """The bundle of the uploaded `file` parts (InvalidDiagram when it is not one).

    A part with neither a name nor content is what a browser sends for a file input left empty: it is skipped, so
    nothing chosen reads as "no file was uploaded"."""
    uploads = []
    for part in files:
        content = part.stream.read()
        if not part.filename and not content:
            continue
        uploads.append((part.filename or "", content))
    return Bundle.from_uploads(uploads)


def json_object(text) -> dict | None:
    """A JSON object typed into a form field: None when the field is blank, ValueError saying what is wrong."""
    if isinstance(text, dict):
        return text
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        loaded = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("not valid JSON") from None
    if not isinstance(loaded, dict):
        raise ValueError("must be a JSON object")
    return loaded
