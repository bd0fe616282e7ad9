"""The hand-built worlds the tests start from, one module per world, each with the helpers that build and read it.

- data_controls: every persona around two groups, meetings, check-ins and two-factor (privacy, security, audit).
- group_pages: a public open group and a private invite group, each with a weekly series, seen by six personas;
  and the one-group worlds of the home and consistent-state tests.
- rsvp_pages: the same two groups a week later, attended by the member, with a proof; and a meeting of two seats.
- rsvps: one group with a weekly series that makes people and members on demand, for the RSVP rules.
- checkins: a group with members who record check-ins, and the sharing they choose.
- notifications: a group whose names say too much, its meetings, scheduler passes and the outbox rows.
- feeds: groups in three zones with split, moved, cancelled and far-zone meetings, as calendar feeds show them.
- browser_home: a group meeting tomorrow on the real clock, for the tests in a real browser.
"""
