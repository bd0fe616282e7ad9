"""Programs: a treatment centre's aftercare team, its coordinators, the groups it runs, and the referrals its
coordinators make (create, withdraw, what a coordinator may list).

Functions here change models and flush; the caller commits. Audit entries are written here.
"""
