"""Generic error pages in the site's shell; they never show internals."""

from __future__ import annotations

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from supportnet.extensions import login_manager

MESSAGES = {
    400: ("Something in that request was not right", "Go back, check what you entered and try again."),
    403: ("You can't do that here", "Your account does not have permission for this page or action."),
    404: ("Page not found", "The page may have moved, or you may not have access to it."),
    405: ("That didn't work", "This page cannot be used that way."),
    413: ("That was too large", "Send less at once and try again."),
    429: ("Slow down a little", "Too many requests in a short time. Wait a few minutes and try again."),
    500: ("Something went wrong on our side", "It's not your fault. Please try again in a little while."),
}


def render_error(code: int, detail: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[500] if code >= 500 else MESSAGES[400])
    try:
        return render_template("errors/error.html", code=code, title=title, text=detail or text), code
    except Exception:
        # The shell asks who is signed in; when that fails too (database down), show it signed out
        # rather than letting the server answer with its bare page, without our headers.
        g._login_user = login_manager.anonymous_user()
        return render_template("errors/error.html", code=code, title=title, text=detail or text), code


def install(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return render_error(400, "Your form expired or was sent from somewhere else. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        response = render_error(error.code)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            return (*response, {"Allow": ", ".join(error.valid_methods)})
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return render_error(500)
