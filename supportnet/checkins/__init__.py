"""Check-ins: recording them, the member's history, trends and patterns, the recovery date, sharing with
groups, what facilitators see, and export and deletion.

Functions in this package change models and flush; the caller (a view or a command) commits. Each module
imports only the ones above it in this list:

* scores: standard measures the member takes (responses, the BAM's attendance answer, trends);
* rhythms: how often the member takes a measure, what is due, rhythms suggested by groups and programs;
* records: the member's days, recording, editing and deleting check-ins (deleting them all takes the
  measure responses too), their tags, and key rotation;
* history: the history pages, the chart's daily points and the streak;
* patterns: plain-language patterns in the member's days;
* recovery: the recovery date and its milestones;
* sharing: what the member shares with which group, stop-sharing links, whom they can reach out to;
* support: what a group's facilitators see;
* shared_measures: what facilitators and coordinators see of the measures members share with them;
* export: the member's check-ins as CSV and JSON, and their measure responses (each in its own version's
  words), rhythms and answers to suggested rhythms.

Decisions worth knowing:

* A check-in belongs to its member. Nobody else reads one unless the member chose a sharing level for a
  group they are an active member of, and then only that group's active facilitators (not site admins) see
  it: "summaries" shows mood, craving and the support flag; "summaries and notes" adds the notes of the
  check-ins the member marked "share this note" (off by default), so a note is only ever shared check-in by
  check-in (privacy rule 3). Energy, sleep and tags are never shared.
* Sharing is checked on every read, so turning it off (or leaving the group) ends a facilitator's access at
  once. Leaving or being removed also resets the choice to "nothing" (see models/checkin.py).
* Group figures come only from members who share with the group, and only when at least AGGREGATE_MIN of
  them contributed; below that nothing is shown, not even how many did.
* Days are the member's own calendar days: each check-in stores the local date it is about (their zone when
  they recorded it, or an earlier day they chose), so DST and moving timezone never break a streak.
* Notes and a member's own tag texts are encrypted at rest (supportnet/crypto.py); common tags are codes.
"""
