"""The hand-built worlds the tests start from, one module per world, each with the helpers that build and read it.

- data_controls: every persona around two groups, meetings, check-ins and two-factor (privacy, security, audit).
- group_pages: a public open group and a private invite group, each with a weekly series, seen by six personas.
- checkins: a group with members who record check-ins, and the sharing they choose.
- notifications: a group whose names say too much, its meetings, and scheduler passes.
- rsvps: a weekly meeting with seats, for the RSVP and attendance rules.
- feeds: groups with split, moved, cancelled and far-zone meetings, as calendar feeds show them.
"""
