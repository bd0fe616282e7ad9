"""Standard recovery measures: instruments kept in the repository as code plus version, and their scoring.

`definitions` holds the shapes (an instrument, its items, answer options and scoring rules), `published` the
instruments' texts exactly as their publishers print them, `instruments` the registry by (code, version), and
`scoring` turns a member's answers into subscale scores, a severity band and a safety flag. Nothing here knows
of the database: a stored response names its instrument and version and is scored again with this code.
"""
