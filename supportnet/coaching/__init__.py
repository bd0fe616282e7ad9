"""One-to-one sessions: coaches publish availability, members book, nobody is double-booked.

Functions in this package change models and flush; the caller (a view or a command) commits. Each module
imports only the ones above it in this list:

* coaches: the coach role (granted by a site admin or a program's coordinator; two-factor like all staff), the
  profile, who may see and book a coach, weekly windows, date exceptions and time off, and the free slots
  (`supportnet.slots` does the time arithmetic);
* booking: booking a slot (under a lock on the coach's row, so two members or a coach's change can never make
  overlapping sessions), cancelling and moving with the coach's late-change rule, notes and who reads them;
* notices: what a session tells its coach and member (reminders the planner writes, the dispatcher's re-check,
  the neutral wording and the session's .ics), and the coach's audited reads of a member's note;
* records: a person's coaching data in their export, and what deleting their account does to it.

Decisions worth knowing:

* Only the coach and the member see a session; the online link only after booking; the coach's follow-up note is
  the coach's unless shared with the member; each read of a member's note by the coach is in the member's export.
"""
