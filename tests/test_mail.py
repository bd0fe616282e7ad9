"""Building email: the pieces of a message that come from the configuration."""

from __future__ import annotations

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
