"""Reading bundles: names that stay inside, types, limits, zips with a top folder, files from disk."""
from __future__ import annotations


import pytest

from engine.infra.errors import InvalidDiagram
from engine.process.bundles import MAX_FILE_BYTES, Bundle, safe_name
from tests.zips import zip_of



@pytest.mark.parametrize("name, normal", [("a.bpmn", "a.bpmn"), ("./forms/x.json", "forms/x.json"),
                                          ("forms//x.json", "forms/x.json")])
def test_relative_names_are_normalised(name, normal):
    assert safe_name(name) == normal


@pytest.mark.parametrize("name", ["../a.bpmn", "forms/../../a.bpmn", "/etc/a.bpmn", "C:/a.bpmn", "a\\b.bpmn", ""])
def test_names_that_could_leave_the_bundle_are_refused(name):
    with pytest.raises(InvalidDiagram) as caught:
        safe_name(name)
    assert caught.value.errors[0]["code"] in {"bundle-path-traversal", "bundle-bad-name"}


def test_a_zip_with_one_top_folder_loses_it_and_skips_other_types():
    bundle = Bundle.from_zip(zip_of({"proc/a.bpmn": b"<a/>", "proc/forms/f.json": b"{}", "proc/notes.md": b"#",
                                   "__MACOSX/proc/._a.bpmn": b"junk"}))
    assert list(bundle.files) == ["a.bpmn", "forms/f.json"]
    assert "notes.md" in bundle.skipped


def test_uploads_are_one_zip_or_several_allowed_files():
    assert list(Bundle.from_uploads([("a.bpmn", b"<a/>"), ("b.dmn", b"<b/>")]).files) == ["a.bpmn", "b.dmn"]
    for uploads, message in (([("a.zip", zip_of({"a.bpmn": b"<a/>"})), ("b.bpmn", b"<b/>")], "not both"),
                             ([("a.txt", b"x")], "only .bpmn, .dmn and .json"),
                             ([("a.bpmn", b"<a/>"), ("a.bpmn", b"<b/>")], "two files with this name"),
                             ([("a.bpmn", b"x" * (MAX_FILE_BYTES + 1))], "larger than"),
                             ([("a.zip", b"PK\x03\x04 not really")], "not a readable zip"),
                             ([], "no file was uploaded")):
        with pytest.raises(InvalidDiagram, match=message):
            Bundle.from_uploads(uploads)


def test_a_folder_from_disk_keeps_relative_names_and_single_files_read_their_forms_beside_them(tmp_path):
    (tmp_path / "forms").mkdir()
    (tmp_path / "a.bpmn").write_bytes(b"<a/>")
    (tmp_path / "forms" / "f.json").write_bytes(b"{}")
    (tmp_path / "picture.png").write_bytes(b"png")
    folder = Bundle.from_paths([tmp_path])
    assert list(folder.files) == ["a.bpmn", "forms/f.json"] and folder.skipped == ["picture.png"]
    single = Bundle.from_paths([tmp_path / "a.bpmn"])
    assert list(single.files) == ["a.bpmn"]
    assert single.lookup("forms/f.json", "a.bpmn") == "forms/f.json" and "forms/f.json" in single.files
    assert single.lookup("../secret.json", "a.bpmn") is None and single.lookup("forms/none.json") is None
