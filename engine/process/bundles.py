"""A deployment bundle: the diagrams, decision tables and forms a designer brings, read safely from disk, zip or upload.

A bundle is an ordered mapping of relative names ("forms/rectify.json") to bytes. Names are checked before any
content is read: no absolute paths, no `..`, no backslashes. Only .bpmn, .dmn and .json files belong in a bundle;
a folder or zip may hold other files (a README, a picture), which are skipped and named in `skipped`, but a file
handed over one by one must be one of those types. Zips are read with limits on the number of entries, on each
entry's size and on the total, and a zip inside a zip is refused.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from engine.infra.errors import InvalidDiagram
from engine.process.findings import Finding

ALLOWED_SUFFIXES = (".bpmn", ".dmn", ".json")
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 200
MAX_BUNDLE_BYTES = 20 * 1024 * 1024
MAX_ZIP_BYTES = MAX_BUNDLE_BYTES
_ZIP_MAGIC = b"PK\x03\x04"
_JUNK_PREFIXES = ("__MACOSX/",)


def _refuse(code: str, message: str, name: str | None = None, fix: str | None = None):
    raise InvalidDiagram(message, [Finding(code, message, file=name, fix=fix).as_dict()])


def safe_name(name: str) -> str:
    """The normalised relative name of a bundle member, or InvalidDiagram when it could point anywhere else."""
    text = (name or "").strip()
    if not text or "\\" in text or "\x00" in text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        _refuse("bundle-bad-name", f"file name {name!r} is not a relative path inside the bundle", name,
                "use a plain relative name such as forms/approve.json")
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    if not parts or ".." in parts:
        _refuse("bundle-path-traversal", f"file name {name!r} points outside the bundle", name,
                "remove the '..' parts from the path")
    return "/".join(parts)


def _allowed(name: str) -> bool:
    return name.lower().endswith(ALLOWED_SUFFIXES)


def _hidden(name: str) -> bool:
    return name.startswith(_JUNK_PREFIXES) or any(p.startswith(".") for p in name.split("/"))


@dataclass
class Bundle:
    """Ordered name → bytes, plus an optional folder that single files may take their forms from."""

    files: dict[str, bytes] = field(default_factory=dict)
    # The folder next to diagrams given one by one (the CLI, the shipped bpmn/ folder): a form a diagram names
    # but the bundle lacks is read from here (and then stored with the bundle). Uploads never have one.
    support_dir: Path | None = None
    skipped: list[str] = field(default_factory=list)

    # -- building ----------------------------------------------------------------------------
    def add(self, name: str, content: bytes) -> str:
        """Add one member under its checked name; refuses duplicates, unknown types and the limits."""
        name = safe_name(name)
        if not _allowed(name):
            _refuse("bundle-file-type", f"{name}: only .bpmn, .dmn and .json files can be deployed", name)
        if name in self.files:
            _refuse("bundle-duplicate", f"{name}: the bundle holds two files with this name", name)
        if len(content) > MAX_FILE_BYTES:
            _refuse("bundle-file-too-large", f"{name}: file is larger than {MAX_FILE_BYTES} bytes", name)
        if content.startswith(_ZIP_MAGIC):
            _refuse("bundle-nested-zip", f"{name}: a zip archive inside the bundle is not allowed", name,
                    "unpack it and deploy its files")
        if len(self.files) + 1 > MAX_FILES:
            _refuse("bundle-too-many-files", f"the bundle holds more than {MAX_FILES} files")
        if self.total_bytes + len(content) > MAX_BUNDLE_BYTES:
            _refuse("bundle-too-large", f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
        self.files[name] = content
        return name

    @property
    def total_bytes(self) -> int:
        return sum(len(c) for c in self.files.values())

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> "Bundle":
        """Files and folders from disk: a folder adds its .bpmn/.dmn/.json files (names relative to it)."""
        bundle = cls()
        parents = set()
        for path in (Path(p) for p in paths):
            if path.is_dir():
                for member in sorted(p for p in path.rglob("*") if p.is_file()):
                    name = member.relative_to(path).as_posix()
                    if _hidden(name) or not _allowed(name):
                        bundle.skipped.append(name)
                        continue
                    bundle.add(name, _read_bounded(member))
            elif path.is_file():
                bundle.add(path.name, _read_bounded(path))
                parents.add(path.resolve().parent)
            else:
                _refuse("bundle-missing-file", f"{path}: no such file or folder", str(path))
        if len(parents) == 1:
            bundle.support_dir = parents.pop()
        return bundle

    @classmethod
    def from_zip(cls, data: bytes, filename: str = "upload.zip") -> "Bundle":
        """The members of a zip archive (one common top folder is stripped), checked before each is read."""
        if len(data) > MAX_ZIP_BYTES:
            _refuse("bundle-too-large", f"{filename}: the archive is larger than {MAX_ZIP_BYTES} bytes", filename)
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            _refuse("bundle-bad-zip", f"{filename}: not a readable zip archive", filename)
        with archive:
            entries = [i for i in archive.infolist() if not i.is_dir()]
            if len(entries) > MAX_FILES:
                _refuse("bundle-too-many-files",
                        f"{filename}: the archive holds {len(entries)} files, more than {MAX_FILES}", filename)
            names = [safe_name(i.filename) for i in entries]  # every name is checked before any is read
            declared = sum(i.file_size for i in entries)
            if declared > MAX_BUNDLE_BYTES:
                _refuse("bundle-too-large", f"{filename}: the archive unpacks to {declared} bytes, more than "
                        f"{MAX_BUNDLE_BYTES}", filename)
            prefix = _common_folder(names)
            bundle = cls()
            for info, name in zip(entries, names):
                if info.flag_bits & 0x1:
                    _refuse("bundle-encrypted", f"{filename}: {name} is encrypted", name)
                if name.lower().endswith(".zip"):
                    _refuse("bundle-nested-zip", f"{filename}: {name}: a zip inside the zip is not allowed", name,
                            "unpack it and put its files in the outer archive")
                if info.file_size > MAX_FILE_BYTES:
                    _refuse("bundle-file-too-large",
                            f"{filename}: {name} unpacks to {info.file_size} bytes, more than {MAX_FILE_BYTES}", name)
                name = name[len(prefix):] if prefix and name.startswith(prefix) else name
                if _hidden(name) or not _allowed(name):
                    bundle.skipped.append(name)
                    continue
                with archive.open(info) as member:
                    content = member.read(MAX_FILE_BYTES + 1)  # never trust the declared size alone
                bundle.add(name, content)
        return bundle

    @classmethod
    def from_uploads(cls, uploads: Iterable[tuple[str, bytes]]) -> "Bundle":
        """Uploaded files: one .zip archive, or several .bpmn/.dmn/.json files."""
        uploads = list(uploads)
        if not uploads:
            _refuse("bundle-empty", "no file was uploaded", fix="send one or more `file` parts")
        zips = [(n, c) for n, c in uploads if (n or "").lower().endswith(".zip") or c.startswith(_ZIP_MAGIC)]
        if zips:
            if len(uploads) != 1:
                _refuse("bundle-mixed-upload", "upload either one .zip archive or separate files, not both")
            return cls.from_zip(zips[0][1], zips[0][0] or "upload.zip")
        bundle = cls()
        for name, content in uploads:
            bundle.add(name or "upload.bpmn", content)
        return bundle

    # -- reading -----------------------------------------------------------------------------
    def names(self, suffix: str) -> list[str]:
        return [n for n in self.files if n.lower().endswith(suffix)]

    def lookup(self, ref: str, near: str | None = None) -> str | None:
        """The member a diagram's reference names: exact, then next to the diagram, then from the support folder."""
        try:
            ref = safe_name(ref)
        except InvalidDiagram:
            return None
        candidates = [ref]
        if near and "/" in near:
            candidates.append(f"{near.rsplit('/', 1)[0]}/{ref}")
        for candidate in candidates:
            if candidate in self.files:
                return candidate
        if self.support_dir is not None and _allowed(ref):
            path = self.support_dir / ref
            if path.is_file():
                return self.add(ref, _read_bounded(path))
        return None


def _common_folder(names: list[str]) -> str:
    """'proc/' when every member lies in one top folder 'proc', else ''."""
    tops = {n.split("/", 1)[0] for n in names if not n.startswith(_JUNK_PREFIXES)}
    if len(tops) == 1 and all("/" in n for n in names if not n.startswith(_JUNK_PREFIXES)):
        return tops.pop() + "/"
    return ""


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        content = handle.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        _refuse("bundle-file-too-large", f"{path.name}: file is larger than {MAX_FILE_BYTES} bytes", path.name)
    return content
