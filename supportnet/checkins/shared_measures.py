"""What a group's facilitators or a program's coordinators see of members' measures: the scores (and, if the
member chose, the answers) of members who share them, each read recorded for the member, and monthly summaries
(median and distribution) only from sharing members and only when at least 5 of them answered that month."""

from __future__ import annotations
