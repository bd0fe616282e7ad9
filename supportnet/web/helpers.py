"""Small helpers shared by the views."""

from __future__ import annotations

from flask import current_app, url_for
from flask_wtf import FlaskForm

from supportnet.errors import DomainError


def external_url(endpoint: str, **values) -> str:
    """An absolute link for emails and feeds, built from SUPPORTNET_BASE_URL, never from the Host header."""
    return current_app.config["BASE_URL"] + url_for(endpoint, **values)


def put_error(form: FlaskForm, error: DomainError, default_field: str | None = None) -> None:
    """Show a domain error on the form field it concerns, or at the top of the form."""
    name = error.field or default_field
    # A domain name for a value the form spreads over several fields (e.g. "recurrence") maps to one field.
    name = getattr(form, "error_fields", {}).get(name, name)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error)]
    else:
        form.form_errors.append(str(error))
