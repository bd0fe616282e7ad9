"""The app's access policy in one table: every route, and what each persona gets from it.

A route that is not in MATRIX fails tests/test_authz_matrix.py: adding a route means adding one line here, with what
each persona gets. The fuzzing and mass-assignment tests ask the same table who gets through to a form.
"""

from __future__ import annotations

from tests.worlds.data_controls import PERSONAS

L = "login"  # redirected to sign in

#            anonymous outsider member other_fac facilitator admin
ALL_200 = (200, 200, 200, 200, 200, 200)
SIGNED_IN = (L, 200, 200, 200, 200, 200)
SEE_GROUP = (404, 404, 200, 404, 200, 200)  # a private group: members, its facilitators, admins
MANAGE = (L, 404, 403, 404, 200, 200)
CHANGE = (L, 404, 403, 404, 302, 302)
OWN = (L, 404, 200, 404, 404, 404)  # the member's own things: nobody else learns they exist
ADMIN = (L, 404, 404, 404, 404, 200)
SIGNED_OUT_ONLY = (200, 302, 302, 302, 302, 302)  # sign-in pages send signed-in people on
ANYONE_BAD_TOKEN = (400, 400, 400, 400, 400, 400)
COORDINATOR = (L, 404, 404, 404, 404, 404)  # a program's coordinators only: none of the personas is one

MATRIX: dict[str, tuple] = {
    "GET /": ALL_200,
    "GET /privacy": ALL_200,
    "GET /meetings": ALL_200,  # meetings by time: public groups, plus the viewer's own private ones
    "GET /healthz": ALL_200,
    "GET /static/<path:filename>": ALL_200,
    "GET /dev/mailbox": ALL_200,  # development only (tests run in the testing environment); never in production
    "GET /dev/mailbox/<message_id>": (404,) * 6,
    "GET /dev/mailbox/<message_id>/attachments/<int:index>": (404,) * 6,
    # --- accounts ---
    "GET /login": SIGNED_OUT_ONLY,
    "POST /login": (200, 302, 302, 302, 302, 302),
    "GET /login/two-factor": (L, 302, 302, 302, 302, 302),  # no password step first: back to sign in
    "POST /login/two-factor": (L, 302, 302, 302, 302, 302),
    "POST /logout": (L, 302, 302, 302, 302, 302),
    "GET /register": ALL_200,
    "POST /register": ALL_200,  # the empty form again
    "GET /register/check-email": ALL_200,
    "GET /forgot-password": ALL_200,
    "POST /forgot-password": ALL_200,
    "GET /forgot-password/sent": ALL_200,
    "GET /account/reset/<token>": ANYONE_BAD_TOKEN,
    "POST /account/reset/<token>": ANYONE_BAD_TOKEN,
    "GET /account/confirm/<token>": ANYONE_BAD_TOKEN,
    "POST /account/confirm/<token>": ANYONE_BAD_TOKEN,
    # Confirming a new address needs the account signed in first.
    "GET /account/email/<token>": (L, 400, 400, 400, 400, 400),
    "POST /account/email/<token>": (L, 400, 400, 400, 400, 400),
    "GET /account/not-me/<token>": ANYONE_BAD_TOKEN,
    "POST /account/not-me/<token>": ANYONE_BAD_TOKEN,
    "GET /account": SIGNED_IN,
    "POST /account/profile": (L, 400, 400, 400, 400, 400),
    "POST /account/password": (L, 400, 400, 400, 400, 400),
    "POST /account/email": (L, 400, 400, 400, 400, 400),
    "POST /account/calendar": (L, 302, 302, 302, 302, 302),
    "POST /account/calendar-address": SIGNED_IN,  # the new address is shown once, on the settings page
    "POST /account/calendar-off": (L, 302, 302, 302, 302, 302),
    # --- data controls ---
    "GET /account/confirm-identity": SIGNED_IN,
    "POST /account/confirm-identity": (L, 400, 400, 400, 400, 400),
    "GET /account/data": SIGNED_IN,
    "POST /account/data/export": SIGNED_IN,
    "POST /account/data/retention": (L, 303, 303, 303, 303, 303),  # no period chosen: told to choose
    "GET /account/delete": SIGNED_IN,
    "POST /account/delete": (L, 303, 303, 303, 303, 303),  # without typing DELETE nothing happens
    "GET /account/sessions": SIGNED_IN,
    "POST /account/sessions/<int:session_id>/end": (L, 404, L, 404, 404, 404),  # the member signed out this browser
    "POST /account/sessions/end-all": (L, L, L, L, L, L),
    "GET /account/two-factor": SIGNED_IN,
    "POST /account/two-factor/setup": (L, 302, 302, 303, 303, 303),  # staff have it on already
    "GET /account/two-factor/confirm": (L, 302, 302, 302, 302, 302),  # nothing being set up: back
    "POST /account/two-factor/confirm": (L, 302, 302, 302, 302, 302),
    "POST /account/two-factor/recovery-codes": (L, 303, 303, 200, 200, 200),
    "POST /account/two-factor/disable": (L, 302, 302, 303, 303, 303),  # required of staff
    "GET /groups/<slug>/audit": MANAGE,
    "GET /admin/audit": ADMIN,
    # --- admin ---
    "GET /admin/users": ADMIN,
    "POST /admin/users/<int:user_id>/role": (L, 404, 404, 404, 404, 303),
    # --- groups ---
    "GET /groups": ALL_200,
    "GET /groups/new": (L, 403, 403, 200, 200, 200),
    "POST /groups/new": (L, 403, 403, 400, 400, 400),
    "GET /groups/<slug>": SEE_GROUP,
    "GET /groups/<slug>/edit": MANAGE,
    "POST /groups/<slug>/edit": (L, 404, 403, 404, 400, 400),
    "POST /groups/<slug>/archive": CHANGE,
    "POST /groups/<slug>/invite": MANAGE,
    "POST /groups/<slug>/join": (L, 404, 302, 404, 302, 303),
    "POST /groups/<slug>/leave": (L, 404, 302, 404, 303, 302),
    "GET /groups/<slug>/members": MANAGE,
    "POST /groups/<slug>/members/<int:membership_id>/<any(approve, decline, remove):action>|approve": CHANGE,
    "POST /groups/<slug>/members/<int:membership_id>/<any(approve, decline, remove):action>|decline": (
        L, 404, 403, 404, 303, 303),  # the peer is a member already: nothing to decline
    "POST /groups/<slug>/members/<int:membership_id>/<any(approve, decline, remove):action>|remove": CHANGE,
    "POST /groups/<slug>/members/<int:membership_id>/role": (L, 404, 403, 404, 400, 400),
    "GET /groups/<slug>/support": (L, 404, 403, 404, 200, 403),  # shared check-ins: the group's facilitators only
    "GET /groups/<slug>/announce": MANAGE,
    "POST /groups/<slug>/announce": (L, 404, 403, 404, 400, 400),
    "GET /invite/<token>": ALL_200,
    # --- meetings ---
    "GET /groups/<slug>/meetings/new": MANAGE,
    "POST /groups/<slug>/meetings/new": (L, 404, 403, 404, 400, 400),
    "GET /groups/<slug>/meetings/<int:series_id>/edit": MANAGE,
    "POST /groups/<slug>/meetings/<int:series_id>/edit": (L, 404, 403, 404, 400, 400),
    "POST /groups/<slug>/meetings/<int:series_id>/end": CHANGE,
    "POST /groups/<slug>/meetings/<int:series_id>/standing": (L, 404, 302, 404, 302, 303),
    "POST /groups/<slug>/meetings/<int:series_id>/standing/stop": (L, 404, 302, 404, 302, 302),
    "GET /meetings/<int:occurrence_id>": SEE_GROUP,
    "POST /meetings/<int:occurrence_id>/cancel": CHANGE,
    "GET /meetings/<int:occurrence_id>/move": MANAGE,
    "POST /meetings/<int:occurrence_id>/move": (L, 404, 403, 404, 400, 400),
    "POST /meetings/<int:occurrence_id>/restore": (L, 404, 403, 404, 302, 302),
    "GET /meetings/<int:occurrence_id>/roster": MANAGE,
    "POST /meetings/<int:occurrence_id>/rsvp": (L, 404, 302, 404, 302, 303),
    # An admin who is no member may not answer "can't go" either (only people who take part answer).
    "POST /meetings/<int:occurrence_id>/rsvp/cancel": (L, 404, 302, 404, 302, 303),
    "POST /meetings/<int:occurrence_id>/attendance/<int:user_id>/<any(mark, unmark):action>|mark": (
        L, 404, 403, 404, 303, 303),  # the meeting has not started: it cannot be marked yet
    "POST /meetings/<int:occurrence_id>/attendance/<int:user_id>/<any(mark, unmark):action>|unmark": (
        L, 404, 403, 404, 302, 302),
    "POST /meetings/<int:occurrence_id>/code": (L, 404, 403, 404, 302, 302),
    "POST /meetings/<int:occurrence_id>/check-in": (L, 404, 303, 404, 303, 303),
    "GET /meetings/<int:occurrence_id>/calendar.ics": SEE_GROUP,
    # --- feeds ---
    "GET /groups/<slug>/calendar.ics": (404,) * 6,  # a private group has no public feed
    "GET /calendar/<token>.ics": (404,) * 6,
    "GET /meeting-guide.json": ALL_200,
    # --- RSVPs, attendance proofs ---
    "GET /me/meetings": SIGNED_IN,
    "GET /me/attendance/proofs": SIGNED_IN,
    "POST /me/attendance/proofs": (L, 400, 400, 400, 400, 400),
    "GET /me/attendance/proofs/<int:proof_id>": OWN,
    "POST /me/attendance/proofs/<int:proof_id>/revoke": (L, 404, 302, 404, 404, 404),
    "GET /proof/<token>": ALL_200,
    # --- check-ins ---
    "GET /me/checkins": SIGNED_IN,
    "GET /me/checkins/new": SIGNED_IN,
    "POST /me/checkins/new": (L, 400, 400, 400, 400, 400),
    "GET /me/checkins/<int:checkin_id>": OWN,
    "POST /me/checkins/<int:checkin_id>": (L, 404, 400, 404, 404, 404),
    "GET /me/checkins/<int:checkin_id>/saved": OWN,
    "POST /me/checkins/<int:checkin_id>/delete": (L, 404, 302, 404, 404, 404),
    "POST /me/checkins/delete-all": (L, 303, 303, 303, 303, 303),  # without typing DELETE nothing happens
    "GET /me/checkins/export.csv": SIGNED_IN,
    "GET /me/checkins/export.json": SIGNED_IN,
    "GET /me/recovery": SIGNED_IN,
    "POST /me/recovery": (L, 400, 400, 400, 400, 400),
    "GET /me/sharing": SIGNED_IN,
    "POST /me/sharing": (L, 303, 303, 303, 303, 303),
    # --- notifications ---
    "GET /notifications": SIGNED_IN,
    "POST /notifications/read": (L, 302, 302, 302, 302, 302),
    "POST /notifications/<int:notification_id>/open": (L, 404, 302, 404, 404, 404),
    "GET /notifications/preferences": SIGNED_IN,
    "POST /notifications/preferences": (L, 400, 400, 400, 400, 400),
    "GET /notifications/stop/<token>": ANYONE_BAD_TOKEN,
    "POST /notifications/stop/<token>": ANYONE_BAD_TOKEN,
    "GET /notifications/stop-sharing/<token>": ANYONE_BAD_TOKEN,
    "POST /notifications/stop-sharing/<token>": ANYONE_BAD_TOKEN,
    "GET /notifications/cant-make-it/<token>": ANYONE_BAD_TOKEN,
    "POST /notifications/cant-make-it/<token>": ANYONE_BAD_TOKEN,
    # --- programs: admins (none of these personas coordinates a program) ---
    "GET /admin/programs": ADMIN,
    "POST /admin/programs": (L, 404, 404, 404, 404, 400),  # no name: the form again, with its error
    "GET /admin/programs/<int:program_id>": ADMIN,
    "POST /admin/programs/<int:program_id>/coordinators": (L, 404, 404, 404, 404, 400),
    "POST /admin/programs/<int:program_id>/coordinators/<int:user_id>/remove": (L, 404, 404, 404, 404, 302),
    "POST /admin/programs/<int:program_id>/groups": (L, 404, 404, 404, 404, 400),
    "POST /admin/programs/<int:program_id>/groups/<int:group_id>/remove": (L, 404, 404, 404, 404, 302),
    # --- programs: referrals and their cards ---
    # Only a program's named coordinators; site admins and group facilitators are not, so 404 for all of these.
    "GET /programs": COORDINATOR,
    "GET /programs/<int:program_id>": COORDINATOR,
    "GET /programs/<int:program_id>/referrals/new": COORDINATOR,
    "POST /programs/<int:program_id>/referrals/new": COORDINATOR,
    "GET /programs/<int:program_id>/referrals/<int:referral_id>": COORDINATOR,
    "GET /programs/<int:program_id>/referrals/<int:referral_id>/card": COORDINATOR,
    "GET /programs/<int:program_id>/referrals/<int:referral_id>/card.pdf": COORDINATOR,
    "POST /programs/<int:program_id>/referrals/<int:referral_id>/withdraw": COORDINATOR,
    # --- programs: follow-up and outcomes ---
    "GET /programs/<int:program_id>/outcomes": (L, 404, 404, 404, 404, 404),
    "GET /programs/<int:program_id>/outcomes.csv": (L, 404, 404, 404, 404, 404),
    # --- a referral link, from the person's side ---
    "GET /r/<token>": (404,) * 6,  # an unknown link: the same kind page for everyone
    "POST /r/<token>": (404,) * 6,
    "GET /r/<token>/sign-up": (404,) * 6,
    "POST /r/<token>/sign-up": (404,) * 6,
    # After accepting: the member's own answer, else the meeting's page; nobody else learns of the meeting.
    "GET /welcome/<int:occurrence_id>": (L, 404, 200, 404, 302, 302),
    "POST /groups/<slug>/greeter": (L, 404, 302, 404, 302, 403),  # active members only
    # --- consent and sharing ---
    # One of the member's consents: only she can end it; for anyone else it does not exist.
    "POST /me/sharing/consents/<int:consent_id>/revoke": (L, 404, 302, 404, 404, 404),
    # --- measures: taking one, results, trends ---
    "GET /me/measures": SIGNED_IN,
    "GET /me/measures/<code>/take": SIGNED_IN,
    "POST /me/measures/<code>/take": (L, 400, 400, 400, 400, 400),  # an empty form: the items are named
    "GET /me/measures/<code>/trend": SIGNED_IN,
    "GET /me/measures/responses/<int:response_id>": OWN,
    "POST /me/measures/responses/<int:response_id>/delete": (L, 404, 302, 404, 404, 404),
    # --- measures: rhythms and suggestions ---
    # A member's own rhythms: everyone signed in has their own (an empty form is refused with a message).
    "GET /me/measures/rhythms": SIGNED_IN,
    "POST /me/measures/<code>/rhythm": (L, 400, 400, 400, 400, 400),
    # A suggestion of the world's group: answered only by its active members (its facilitator is one); for
    # anyone else it does not exist.
    "POST /me/measures/suggestions/<int:suggestion_id>/accept": (L, 404, 302, 404, 302, 404),
    "POST /me/measures/suggestions/<int:suggestion_id>/decline": (L, 404, 302, 404, 302, 404),
    # Suggesting is for the group's own facilitators (a site admin who may see the group is not one).
    "GET /groups/<slug>/measures/suggestions": (L, 404, 403, 404, 200, 403),
    "POST /groups/<slug>/measures/suggestions": (L, 404, 403, 404, 400, 403),
    "POST /groups/<slug>/measures/suggestions/<int:suggestion_id>/withdraw": (L, 404, 403, 404, 302, 403),
    "GET /programs/<int:program_id>/measures/suggestions": COORDINATOR,
    "POST /programs/<int:program_id>/measures/suggestions": COORDINATOR,
    "POST /programs/<int:program_id>/measures/suggestions/<int:suggestion_id>/withdraw": COORDINATOR,
    # --- measures: what facilitators and coordinators see ---
    # What one group's or program's people see of what members share: its own active facilitators (site admins are
    # not, by being admins) or named coordinators only, 404 for everyone else; a member's page is 404 unless that
    # member shares scores with the place now (the world's peer shares nothing).
    "POST /me/sharing/measures": (L, 400, 400, 400, 400, 400),  # no choice made: the page again, with its error
    "GET /groups/<slug>/measures": (L, 404, 404, 404, 200, 404),
    "GET /groups/<slug>/measures/<int:user_id>": (L, 404, 404, 404, 404, 404),
    "GET /programs/<int:program_id>/measures": COORDINATOR,
    "GET /programs/<int:program_id>/measures/<int:user_id>": COORDINATOR,
    # --- my people: supporters (the member's pages; the supporter's signed links) ---
    "GET /supporter/<token>/stop": (404,) * 6,  # an unknown link: the same page for everyone
    "POST /supporter/<token>/stop": (404,) * 6,
    # --- my people: supporters (the member names, lists, removes and re-invites; the supporter accepts) ---
    "GET /supporter/<token>/accept": (404,) * 6,  # an unknown link: the same page for everyone
    "POST /supporter/<token>/accept": (404,) * 6,
    "GET /me/people": SIGNED_IN,  # everyone signed in has their own list
    "POST /me/people": (L, 400, 400, 400, 400, 400),  # an empty form: the page again with what to fill in
    # The member's own supporter (invited just now): removed; sent again only once a day, so refused (400).
    # Another member's supporter does not exist for them.
    "POST /me/people/<int:supporter_id>/remove": (L, 404, 302, 404, 404, 404),
    "POST /me/people/<int:supporter_id>/resend": (L, 404, 400, 404, 404, 404),
    # --- my people: reach out ---
    "GET /me/reach-out": SIGNED_IN,  # with no supporter: how to name one, and the crisis resources
    "POST /me/reach-out": (L, 400, 400, 400, 400, 400),  # no loaded form's nonce, nobody chosen
    "GET /me/reach-out/sent/<nonce>": (L, 404, 404, 404, 404, 404),  # only the member's own presses
    "GET /me/reach-out/message": SIGNED_IN,
    "POST /me/reach-out/message": (L, 400, 400, 400, 400, 400),  # no message chosen
    # --- my people: the safety plan ---
    # Always the viewer's own plan (no id in the address): every signed-in persona gets their own.
    "GET /me/safety-plan": SIGNED_IN,
    "POST /me/safety-plan": (L, 400, 400, 400, 400, 400),  # no part sent: the page again, nothing changed
    "GET /me/safety-plan/print": SIGNED_IN,
    "POST /me/safety-plan/clear": (L, 302, 302, 302, 302, 302),  # each clears their own (empty) plan
    # --- my people: alert rules ---
    "GET /me/people/alerts": SIGNED_IN,
    "POST /me/people/alerts": (L, 400, 400, 400, 400, 400),  # an empty form: what to fix, as a 400
    # The rule is the member's (tests/security_harness.py): anyone else's id is a 404.
    "POST /me/people/alerts/<int:rule_id>/pause": (L, 404, 302, 404, 404, 404),
    "POST /me/people/alerts/<int:rule_id>/resume": (L, 404, 302, 404, 404, 404),
    "POST /me/people/alerts/<int:rule_id>/delete": (L, 404, 302, 404, 404, 404),
    # --- coaching: coaches and availability ---
    # None of the personas is a coach: a coach's own pages do not exist for them.
    "GET /coach/profile": (L, 404, 404, 404, 404, 404),
    "POST /coach/profile": (L, 404, 404, 404, 404, 404),
    "GET /coach/availability": (L, 404, 404, 404, 404, 404),
    "POST /coach/availability": (L, 404, 404, 404, 404, 404),
    # The world's coach (tests/security_harness.py) is public: everyone signed in may see them.
    "GET /coaches": SIGNED_IN,
    "GET /coaches/<int:coach_id>": SIGNED_IN,
    "GET /admin/coaches": ADMIN,
    "POST /admin/coaches": (L, 404, 404, 404, 404, 400),  # an empty form: what to fill in
    "POST /admin/coaches/<int:coach_id>/end": (L, 404, 404, 404, 404, 302),
    "GET /programs/<int:program_id>/coaches": COORDINATOR,
    "POST /programs/<int:program_id>/coaches": COORDINATOR,
    "POST /programs/<int:program_id>/coaches/<int:coach_id>/end": COORDINATOR,
    # --- coaching: booking, a member's sessions ---
    # The security world has a public coach (none of the personas) and no coaching session: session ids name
    # nothing (404 for everyone); the session's own rules are in tests/test_coaching_booking.py. Booking with the
    # harness's empty form is bad input for anyone signed in (no time chosen).
    "POST /coaches/<int:coach_id>/book": (L, 400, 400, 400, 400, 400),
    "GET /me/sessions": SIGNED_IN,
    "GET /me/sessions/<int:session_id>": (L, 404, 404, 404, 404, 404),
    "GET /me/sessions/<int:session_id>.ics": (L, 404, 404, 404, 404, 404),
    "POST /me/sessions/<int:session_id>/cancel": (L, 404, 404, 404, 404, 404),
    "POST /me/sessions/<int:session_id>/move": (L, 404, 404, 404, 404, 404),
    "GET /sessions/cant-make-it/<token>": ANYONE_BAD_TOKEN,
    "POST /sessions/cant-make-it/<token>": ANYONE_BAD_TOKEN,
    # --- coaching: a coach's sessions, notes ---
    # None of the personas is a coach; who reaches whose session is in tests/test_coaching_sessions.py.
    "GET /coach/sessions": (L, 404, 404, 404, 404, 404),
    "GET /coach/sessions/<int:session_id>": (L, 404, 404, 404, 404, 404),
    "POST /coach/sessions/<int:session_id>/follow-up": (L, 404, 404, 404, 404, 404),
    "POST /coach/sessions/<int:session_id>/cancel": (L, 404, 404, 404, 404, 404),
    # Nobody in the security world has an invitation to coach.
    "POST /coach/invitations/<int:coach_id>/<any(accept, decline):answer>|accept": (L, 404, 404, 404, 404, 404),
    "POST /coach/invitations/<int:coach_id>/<any(accept, decline):answer>|decline": (L, 404, 404, 404, 404, 404),
}

TRY_ORDER = ("member", "facilitator", "admin", "other_facilitator", "outsider", "anonymous")


def who_gets_in(key: str) -> str:
    row = dict(zip(PERSONAS, MATRIX[key], strict=True))
    return next((p for p in TRY_ORDER if row[p] not in ("login", 403, 404)), "anonymous")
