"""Notifications: members' choices, the outbox every domain change writes to, and the processes that plan,
compose, send and show notices.

Each module imports only the ones listed before it (and the domain modules where it says so), never one
after it; this package's `__init__` imports nothing, so callers import the module that owns a name.

Below the domain (domain modules may import these, and only these):

* `preferences`: what a member wants (kinds per channel, reminder offsets, quiet hours, prompts, subjects),
  read and checked; the notices a member cannot turn off.
* `links`: signed "stop these emails" and "can't make it" tokens; absolute and site-relative URLs built
  without a request.
* `outbox`: notification rows (insert-ignore on a dedupe key, revive, cancel, purge) and the builders of
  reminder, digest and check-in prompt rows. Imports `preferences`.
* `hooks`: what domain verbs call when their change causes notices (RSVPs, seats, meeting and series
  changes, join requests and answers, a new facilitator who can read shared check-ins, saved preferences,
  account emails). Imports `outbox` and `preferences`.

Beside the domain verbs:

* `announcements`: a facilitator's message to the group. Imports `outbox` and `preferences`.

Above the domain (they may import domain modules; no domain module imports them):

* `planner`: re-derives the rows that are missing as their time nears. Imports `outbox` and `preferences`.
* `compose`: what each notice says (subjects, emails, the meeting's .ics, in-app entries). Imports `links`,
  `preferences` and the domain modules it reads (check-ins, RSVPs).
* `dispatch`: the tick that claims, re-checks, sends, marks and retries; sends a request's own emails right
  after its response. The only module here that commits. Imports `compose`, `marks`, `outbox`, `preferences`.
* `marks`: the dispatcher's connection for marking rows (commits that skip the fsync) and the claim check and
  mark it runs after every message, straight on the driver. Used by `dispatch` only.
* `inbox`: the member's in-app notices, re-checked against what they may still see.

Everything but `dispatch` changes the session and flushes; its caller commits.

Privacy: default emails name no group, no meeting title, no place and no group kind (subjects like
"Reminder: Tuesday 19:00"); members may opt in to descriptive ones. Payloads hold ids and instants, never
check-in content; the facilitators' digest says only how many members who share with the group asked for
support, with a link to the group's support page (names stay behind the sign-in), never a note.
"""
