"""A referral from the person's side: opening the one-time link, choosing a first meeting, accepting (joining
the suggested group as an invited person would, answering "going"), the consents chosen on the way, and telling
the group's volunteer greeters that a newcomer is coming.

Functions here change models and flush; the caller commits.
"""
