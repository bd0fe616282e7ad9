"""What the browser tests share: the two screen sizes they try, and signing in as a persona."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, Persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str, persona: Persona) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email", exact=True).fill(persona.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello, "))).to_be_visible()
