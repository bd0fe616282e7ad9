"""gunicorn settings for SupportNet: `gunicorn wsgi:app` reads this file from the working directory.

Every value can be changed without editing the file: WEB_CONCURRENCY (workers), SUPPORTNET_WEB_THREADS,
SUPPORTNET_BIND (else 0.0.0.0:$PORT when a platform sets PORT, else 127.0.0.1:8000 behind a local proxy),
SUPPORTNET_WEB_TIMEOUT; or gunicorn's own command-line flags, which win over this file.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# Where to listen. Behind nginx on the same host, localhost only; a proxy on another host needs SUPPORTNET_BIND.
# Platforms that set PORT (Heroku-style) route to every interface of the container.
bind = os.environ.get("SUPPORTNET_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)

# Processes x threads. Requests are short and mostly wait on the database, so a few threads per process
# serve more than one request per core; processes give CPU parallelism. Each process has its own pool of
# database connections (SQLAlchemy's default: up to 5 + 10 overflow), so PostgreSQL needs
# max_connections >= hosts x workers x 15 plus the schedulers.
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9))
worker_class = "gthread"
threads = _int("SUPPORTNET_WEB_THREADS", 4)

# A request that takes 30 s is stuck (the slowest page renders in milliseconds; SQLite's busy_timeout is 30 s
# and a writer waiting that long has already failed): restart its worker. SIGTERM lets work in progress finish.
timeout = _int("SUPPORTNET_WEB_TIMEOUT", 35)
graceful_timeout = 30
keepalive = 5  # seconds an idle keep-alive connection from the proxy stays open

# Recycle a worker now and then, so a slow leak in any library cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200

# The app is built in each worker after the fork: create_app() opens no connection, and nothing is shared.
preload_app = False

# No runtime control socket (gunicornc): it would live in the service user's home, which the systemd unit
# hides, and two gunicorns of one user (tests, a benchmark) would fight over the same path. systemd or a
# signal (HUP: reload, TERM: stop) controls the server instead.
control_socket_disable = True

# Logs go to stderr (journald, the platform's log drain). The access log leaves out the referrer, the user agent
# and the query string: a referrer or a query can carry a search for a kind of group, a `next=` page or a
# token, and none of that is needed to run the service. supportnet.logs.RedactTokens (installed on the
# gunicorn.access logger by create_app, and below for the arbiter) replaces the secret part of emailed links
# and private calendar feed paths with [redacted].
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'


def pre_request(worker, req) -> None:
    """Close the connection after a request whose body the app will not read.

    A body over the app's limit is answered 413 unread; keeping the connection alive would have gunicorn read
    (and throw away) the rest of it as if a next request followed, after a response that said "keep-alive".
    Marked here, before the app runs, the 413 goes out with "Connection: close" and gunicorn closes the
    connection gracefully. A chunked body's size is unknown in advance, and browsers never send one: the
    connection closes after it too.
    """
    from supportnet.config import MAX_REQUEST_BYTES

    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (
            name == "CONTENT-LENGTH" and (not value.strip().isdigit() or int(value) > MAX_REQUEST_BYTES)
        ):
            req.must_close = True


def on_starting(server) -> None:
    """Install the token filter before the first request is logged, whatever the app has done yet."""
    import logging

    from supportnet.logs import RedactTokens

    for name in ("gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
