"""A member's own people: supporters they choose, a "reach out" button, a personal safety plan, and alerts the
member controls.

Functions in this package change models and flush; the caller (a view or a command) commits. Each module
imports only the ones above it in this list:

* people: naming, inviting, accepting, stopping and removing supporters; their signed links; whether an email
  to a supporter may still go, and to which address;
* plan: the personal safety plan (six parts, encrypted) and the message "reach out" sends;
* reach: "reach out": the member's chosen message, by email through the outbox, to the supporters they choose;
* alerts: the member's alert rules (missed meetings, days without a check-in, a BAM risk score), each also a
  consent given to one supporter, planned by the planner and re-checked before sending.

Decisions worth knowing:

* A supporter's address is encrypted, shown to the member only, read from the supporter's row only when an
  email is sent, and removed when the supporter's place ends (they stop, or the member removes them).
* Nothing here replaces the crisis resources: every page that offers "reach out" shows them beside it.
"""
