"""Generic error pages in the site's shell; they never show internals.

When the database cannot be reached (a restart, a full disk, a network cut), pages answer 503 with a short
"we'll be back" page and each failed request logs one line, not a chained traceback: an outage under load
must not flood the log. (A 413's connection is closed by the server, not here: Connection is a hop-by-hop
header a WSGI app may not set. gunicorn.conf.py marks such requests; the dev server closes every connection.)
"""

from __future__ import annotations

import logging

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from supportnet.db import database_unavailable, unavailable_reason
from supportnet.extensions import login_manager

log = logging.getLogger("supportnet.web")
RETRY_AFTER_SECONDS = 30

MESSAGES = {
    400: ("Something in that request was not right", "Go back, check what you entered and try again."),
    403: ("You can't do that here", "Your account does not have permission for this page or action."),
    404: ("Page not found", "The page may have moved, or you may not have access to it."),
    405: ("That didn't work", "This page cannot be used that way."),
    413: ("That was too large", "Send less at once and try again."),
    429: ("Slow down a little", "Too many requests in a short time. Wait a few minutes and try again."),
    500: ("Something went wrong on our side", "It's not your fault. Please try again in a little while."),
    503: ("We'll be back in a few minutes",
          "SupportNet can't reach its database just now. It's not your fault. If you were sending a form, it "
          "was not saved: please send it again in a few minutes."),
}


def render_error(code: int, detail: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[500] if code >= 500 else MESSAGES[400])
    if code == 503:
        # Asking the database who is signed in would fail again (and wait again): show the page signed out.
        g._login_user = login_manager.anonymous_user()
    try:
        return render_template("errors/error.html", code=code, title=title, text=detail or text), code
    except Exception:
        # The shell asks who is signed in; when that fails too (database down), show it signed out
        # rather than letting the server answer with its bare page, without our headers.
        g._login_user = login_manager.anonymous_user()
        return render_template("errors/error.html", code=code, title=title, text=detail or text), code


def install(app: Flask) -> None:
    flask_log_exception = app.log_exception

    def log_exception(exc_info) -> None:
        # Flask logs an exception raised outside the view (while finishing a response) before it looks for
        # an error page: for an unreachable database, one line instead of the traceback.
        if database_unavailable(exc_info[1]):
            log.error("database unavailable, answered 503: %s", unavailable_reason(exc_info[1]))
            return
        flask_log_exception(exc_info)

    app.log_exception = log_exception

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return render_error(400, "Your form expired or was sent from somewhere else. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if isinstance(error, InternalServerError) and database_unavailable(error.original_exception):
            # Raised outside a view (e.g. while finishing the response): Flask has logged it already.
            return _unavailable(error.original_exception, logged=True)
        response = render_error(error.code)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            return (*response, {"Allow": ", ".join(error.valid_methods)})
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if database_unavailable(error):
            return _unavailable(error)
        app.logger.exception("unhandled error")
        return render_error(500)


def _unavailable(error: BaseException | None, logged: bool = False):
    if not logged:
        log.error("database unavailable, answered 503: %s", unavailable_reason(error))
    body, code = render_error(503)
    return body, code, {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
