"""Printable cards: a QR code of a link and a one-page PDF, drawn on the server (segno, fpdf2). Knows nothing
of referrals: the caller hands it the lines to print.
"""
