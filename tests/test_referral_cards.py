"""The printable referral card: its QR code decodes to exactly the referral's link (the PDF rendered by PDFium
and read by ZXing, as a phone would), the outside fold says nothing of a program, a group or recovery, the
inside has the person's name, the note and the next meeting times in each group's timezone, and neither the
card nor the PDF is kept by a browser or a proxy."""

from __future__ import annotations

import re

import pypdfium2
import pytest
import zxingcpp

from supportnet import cards
from tests.pages import browser, html
from tests.worlds.programs import (
    GROUP_A,
    GROUP_B,
    PROGRAM_A,
    PROGRAM_B,
    PUBLIC,
    ProgramWorld,
    build_program_world,
    link_on,
    make_referral,
    url_of,
)

FORBIDDEN_OUTSIDE = ("recovery", "treatment", "addiction", "aftercare", "sober")


@pytest.fixture
def world(app) -> ProgramWorld:
    return build_program_world(app)


def pdf_halves(body: bytes) -> tuple[str, str]:
    """The text of the PDF's top half (the outside of the folded card) and of its bottom half (the inside)."""
    document = pypdfium2.PdfDocument(body)
    try:
        page = document[0]
        width, height = page.get_size()
        textpage = page.get_textpage()
        return (textpage.get_text_bounded(0, height / 2, width, height),
                textpage.get_text_bounded(0, 0, width, height / 2))
    finally:
        document.close()


def decode_pdf(body: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(body)
    try:
        assert len(document) == 1
        image = document[0].render(scale=2).to_pil()
    finally:
        document.close()
    return [result.text for result in zxingcpp.read_barcodes(image)]


def fold(page: str, name: str) -> str:
    match = re.search(rf'<section class="card-fold card-{name}" id="card-{name}"[^>]*>(.*?)</section>', page, re.S)
    assert match, f"no {name} fold"
    return match.group(1)


def words(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


@pytest.mark.parametrize("first_name", ["Sam", "Zoë Łukasz 李雷"])
def test_the_pdf_card_decodes_to_exactly_the_referral_link(app, world, first_name):
    referral_id, token = make_referral(app, world, first_name=first_name, note="We'll be thinking of you.")
    coordinator = browser(app, world.coordinator_a)
    link = link_on(html(coordinator.get(url_of(world, "a", referral_id))))
    assert link == f"http://supportnet.test/r/{token}"
    response = coordinator.get(url_of(world, "a", referral_id, "/card.pdf"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="card.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert decode_pdf(response.data) == [link]
    outside, inside = (" ".join(half.split()) for half in pdf_halves(response.data))
    assert "Someone wants to help you find a meeting." in outside
    for word in (PROGRAM_A, GROUP_A, PUBLIC, *FORBIDDEN_OUTSIDE):
        assert word.lower() not in outside.lower(), word
    assert "Tue 1 Dec, 19:00" in inside and PROGRAM_A in inside and GROUP_A in inside
    assert "For " + cards.latin1(first_name) in inside


def test_the_pdf_draws_the_code_as_vector_squares_with_no_image():
    body = cards.card_pdf(["Outside"], ["Inside"], "https://example.org/r/abc")
    assert b"/Subtype /Image" not in body and b"/XObject" not in body
    assert decode_pdf(body) == ["https://example.org/r/abc"]


def test_the_html_card_is_neutral_outside_and_personal_inside(app, world):
    referral_id, token = make_referral(app, world, first_name="Sam", note="Ask for Fay at the door.")
    coordinator = browser(app, world.coordinator_a)
    response = coordinator.get(url_of(world, "a", referral_id, "/card"))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = html(response)
    assert "<title>Card · SupportNet</title>" in page, "a printed page header shows the title"
    assert 'href="/static/css/card.css"' in page

    outside = fold(page, "outside")
    outside_words = words(outside)
    assert "Someone wants to help you find a meeting." in outside_words
    assert f"http://supportnet.test/r/{token}" in outside_words and "<svg" in outside
    for name in (PROGRAM_A, PROGRAM_B, GROUP_A, GROUP_B, PUBLIC, "Tuesday circle", "Sunday meetup", "Sam"):
        assert name.lower() not in outside_words.lower(), name
    for word in FORBIDDEN_OUTSIDE:
        assert word not in outside.lower(), word

    inside = words(fold(page, "inside"))
    assert "For Sam" in inside and "Ask for Fay at the door." in inside
    assert GROUP_A in inside and f"{PUBLIC}: Sunday meetup" in inside and PROGRAM_A in inside
    # The frozen clock is Thursday 26 November 2026; London's circle meets on Tuesdays at 19:00 from 1 December,
    # New York's meetup on Sundays at 19:00 there.
    assert "Tue 1 Dec, 19:00" in inside and "Times in Europe/London" in inside
    assert "Sun 6 Dec, 19:00" in inside and "Times in America/New York" in inside


def test_the_print_stylesheet_is_served_and_drops_the_site_around_the_card(app, world):
    client = app.test_client()
    css = client.get("/static/css/card.css").get_data(as_text=True)
    assert "@media print" in css and "@page" in css
    assert ".site-header" in client.get("/static/css/app.css").get_data(as_text=True).split("@media print", 1)[1]


def test_the_svg_code_on_the_page_has_no_inline_style(app, world):
    svg = cards.qr_svg("https://example.org/r/abc")
    assert svg.startswith("<svg") and "style=" not in svg and "viewBox" in svg
