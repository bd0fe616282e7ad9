"""Follow-up after a referral: each referral's status as its coordinators may see it (derived from membership,
RSVP and attendance rows at read time, and only under the person's consent), the nudges to coordinators, the
program's monthly outcomes with small cells suppressed, and the retention of referral rows.
"""
