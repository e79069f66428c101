"""Evidence, comments, saved filters and API tokens: each write one unit of work, scoped like hazards."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.org import filters, tokens
from engine.org.models import ApiToken, User
from engine.rectification import attachments, comments
from engine.rectification import inbox as hazard_inbox
from engine.rectification.attachments import EvidenceStore
from engine.rectification.models import Attachment

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def _office(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(member, "<x/>")
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path):
    return EvidenceStore(tmp_path / "uploads", max_bytes=1024)


@pytest.mark.parametrize("data, expected", [
    (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
    (PNG, "image/png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    (PDF, "application/pdf"),
    (_office("word/document.xml"), attachments.DOCX),
    (_office("xl/workbook.xml"), attachments.XLSX),
    ("整改完成，见照片。\n".encode(), "text/plain"),
    (b"MZ\x90\x00\x03", None),  # a Windows executable
    (_office("payload.bin"), None),  # a zip that is not an Office document
    (b"<svg onload=alert(1)>\x00", None),
])
def test_upload_types_are_decided_by_the_bytes(data, expected):
    assert attachments.sniff_type(data) == expected


def test_evidence_is_stored_by_hash_and_recorded_in_the_timeline(services, world, report_hazard, store, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    first = attachments.add_attachment(services, world.users.staff, hazard.id, filename="../../etc/现场.png",
                                       content_type="text/html", data=PNG, task_id=task.id, store=store)
    again = attachments.add_attachment(services, world.users.security, hazard.id, filename="copy.png",
                                       data=PNG, store=store)
    assert first.content_type == "image/png" and first.filename == "现场.png"
    assert first.storage_key == again.storage_key and store.path_of(first.storage_key).read_bytes() == PNG
    assert len(list((store.directory).rglob("*.*"))) == 0  # no stray temp files; names are bare hashes
    with services.uow() as uow:
        kinds = [e.kind for e, _ in hazard_inbox.hazard_timeline(uow.session, hazard.id)]
        evidence = [e.data for e, _ in hazard_inbox.hazard_timeline(uow.session, hazard.id) if e.kind == "EvidenceAdded"]
    assert kinds.count("EvidenceAdded") == 2
    assert evidence[0]["sha256"] == first.sha256 and evidence[0]["size"] == len(PNG)


def test_evidence_is_refused_when_too_large_of_a_bad_type_or_for_another_hazards_task(
        services, world, report_hazard, store, task_of):
    hazard, other = report_hazard(), report_hazard(location="操场")
    with pytest.raises(InvalidFormData, match="larger than") as too_big:
        attachments.add_attachment(services, world.users.staff, hazard.id, filename="a.png", data=PNG * 40,
                                   store=store)
    assert too_big.value.field == "file"
    with pytest.raises(InvalidFormData, match="accepted"):
        attachments.add_attachment(services, world.users.staff, hazard.id, filename="a.jpg", data=b"MZ\x90\x00",
                                   store=store)
    with pytest.raises(InvalidFormData, match="not a task of hazard") as wrong_task:
        attachments.add_attachment(services, world.users.staff, hazard.id, filename="a.pdf", data=PDF,
                                   task_id=task_of(other.id, "register_hazard").id, store=store)
    assert wrong_task.value.field == "task_id"
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_evidence_is_served_only_within_scope(services, world, report_hazard, store):
    hazard = report_hazard()
    added = attachments.add_attachment(services, world.users.staff, hazard.id, filename="p.pdf", data=PDF,
                                       store=store)
    meta, data = attachments.get_attachment_for(services, world.users.supervisor, added.id, store=store)
    assert data == PDF and meta.content_type == "application/pdf"
    for outsider in (world.users.outsider, world.users.logistics_staff):
        with pytest.raises(NotFound, match="does not exist"):
            attachments.get_attachment_for(services, outsider, added.id, store=store)
        with pytest.raises(NotFound):
            attachments.add_attachment(services, outsider, hazard.id, filename="x.pdf", data=PDF, store=store)
    with services.uow() as uow:
        s = uow.session
        assert [a.id for a in attachments.list_attachments(s, s.get(User, world.users.security), hazard.id)] == [
            added.id]
        with pytest.raises(NotFound):
            attachments.list_attachments(s, s.get(User, world.users.outsider), hazard.id)


def test_comments_are_validated_scoped_and_timelined(services, world, report_hazard):
    hazard = report_hazard()
    comment = comments.add_comment(services, world.users.security, hazard.id, "  请补充整改照片  ")
    assert comment.body == "请补充整改照片"
    with pytest.raises(InvalidFormData, match="empty") as empty:
        comments.add_comment(services, world.users.staff, hazard.id, "   ")
    assert empty.value.field == "body"
    with pytest.raises(NotFound):
        comments.add_comment(services, world.users.outsider, hazard.id, "看看")
    with services.uow() as uow:
        s = uow.session
        listed = comments.list_comments(s, s.get(User, world.users.staff), hazard.id)
        assert [(c.body, c.author.username) for c in listed] == [("请补充整改照片", "security")]
        timeline = [(e.kind, name) for e, name in hazard_inbox.hazard_timeline(s, hazard.id)]
    assert ("CommentAdded", "security") in timeline


def test_saved_filters_are_private_unless_shared_with_a_group_i_belong_to(services, world):
    mine = filters.save_filter(services, world.users.staff, "消防待办", {"category": "消防"})
    shared = filters.save_filter(services, world.users.staff, "本院逾期", {"unit": str(world.orgs.college)},
                                 shared_role="department_staff", shared_org_id=world.orgs.college)
    overwritten = filters.save_filter(services, world.users.staff, "消防待办", {"category": "消防", "grade": "major"})
    assert overwritten.id == mine.id
    with pytest.raises(NotAllowed, match="group you belong to"):
        filters.save_filter(services, world.users.staff, "全校", {}, shared_role="security_office",
                            shared_org_id=world.orgs.school)
    with services.uow() as uow:
        s = uow.session
        own = filters.filters_for(s, s.get(User, world.users.staff))
        colleague = filters.filters_for(s, s.get(User, world.users.staff2))
        head = filters.filters_for(s, s.get(User, world.users.head))
    assert [(f.name, f.values) for f in own] == [("本院逾期", {"unit": str(world.orgs.college)}),
                                                 ("消防待办", {"category": "消防", "grade": "major"})]
    assert [f.id for f in colleague] == [shared.id]
    assert head == []
    with pytest.raises(NotAllowed, match="owner"):
        filters.delete_filter(services, world.users.staff2, shared.id)
    filters.delete_filter(services, world.users.staff, shared.id)
    with pytest.raises(NotFound):
        filters.delete_filter(services, world.users.staff, shared.id)


def test_tokens_store_only_a_hash_verify_and_revoke(services, world, clock):
    token, plaintext = tokens.create_token(services, world.users.security, "nightly export")
    with services.uow() as uow:
        stored = uow.session.get(ApiToken, token.id)
        assert stored.token_sha256 == tokens.token_digest(plaintext) and plaintext not in stored.token_sha256
    assert tokens.verify_token(services, plaintext) == world.users.security
    clock.advance(minutes=5)
    tokens.verify_token(services, plaintext)
    with services.uow() as uow:
        assert uow.session.get(ApiToken, token.id).last_used_at == clock.now()
    with pytest.raises(NotAllowed, match="invalid API token"):
        tokens.verify_token(services, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
    with pytest.raises(NotFound):
        tokens.revoke_token(services, token.id, user_id=world.users.staff)
    tokens.revoke_token(services, token.id, user_id=world.users.security)
    with pytest.raises(NotAllowed, match="invalid API token"):
        tokens.verify_token(services, plaintext)
    assert [t.id for t in tokens.tokens_of(services, world.users.security)] == [token.id]


def test_archived_hazards_take_no_more_evidence_or_comments(services, world, report_hazard, do, store):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "王", "deadline": "2026-11-09",
        "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, {"measures": "已修复", "completion": "已完成"})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "销号"})
    with pytest.raises(NotAllowed, match="archived"):
        attachments.add_attachment(services, world.users.staff, hazard.id, filename="late.png", data=PNG,
                                   store=store)
    with pytest.raises(NotAllowed, match="archived"):
        comments.add_comment(services, world.users.security, hazard.id, "补充说明")
