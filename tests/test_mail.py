"""Building email: the pieces of a message that come from the configuration."""

from __future__ import annotations

import re

import pytest

from supportnet import mail


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("Notifications <no-reply@support.example.org>", "support.example.org"),
        ("no-reply@support.example.org", "support.example.org"),
        ("SupportNet <no-reply@support.example.org> ", "support.example.org"),
        ('"Notices, SupportNet" <no-reply@support.example.org>', "support.example.org"),
        ("no-reply@support.example.org (SupportNet)", "support.example.org"),
        ("", "localhost"),
    ],
)
def test_message_ids_carry_the_domain_of_the_sender_address(sender, domain):
    assert mail.sender_domain(sender) == domain
    message = mail.to_message(mail.Mail(to="ann@example.org", subject="Hello", text="Hi"), sender or "x@localhost")
    assert str(message["Message-ID"]).endswith(f"@{domain if sender else 'localhost'}>")


def _without_random_parts(data: bytes) -> bytes:
    # Boundaries are random and the Date is the moment of building: everything else must match byte for byte.
    data = re.sub(rb"=_[0-9a-f]{32}", b"BOUNDARY", data)
    return re.sub(rb"Date: [^\r]*", b"Date: DATE", data)


@pytest.mark.parametrize("to", ["member1@example.org", "Ann <ann@example.org>", "Zo\u00eb <zoe@example.org>"])
@pytest.mark.parametrize("subject", ["Reminder: Tuesday 19:00", "R\u00e9union", "two  spaces", "x" * 1000])
@pytest.mark.parametrize("text", ["Hello \u00e9,\n\nA line " + "x" * 120 + "\nend", "", "a\r\nb\rc=3D\n.\nFrom me"])
@pytest.mark.parametrize("html", [None, "<p>Hi \u00e9</p>\n"])
@pytest.mark.parametrize("attachment", [None, b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", bytes(range(256))])
def test_a_message_written_straight_to_bytes_is_what_the_email_package_writes(to, subject, text, html, attachment):
    headers = {"Message-ID": "<abc@example.org>", "Auto-Submitted": "auto-generated",
               "List-Unsubscribe": "<http://example.org/stop?t=a.b-c_d>"}
    attachments = [mail.Attachment("meeting.ics", attachment, "text", "calendar", {"method": "PUBLISH"})] \
        if attachment is not None else []
    message = mail.Mail(to, subject, text, html, headers, attachments)
    for sender in ("Notifications <no-reply@example.org>", "no-reply@example.org"):
        written = mail.to_raw(message, sender)
        expected = mail.to_message(message, sender).as_bytes()
        assert _without_random_parts(bytes(written)) == _without_random_parts(expected)
        # The fast way is taken for the outbox's plain one-line headers (a named recipient is encoded to ASCII).
        assert isinstance(written, mail.RawMessage) == (subject.isascii() and "  " not in subject
                                                        and len(subject) < 990)
