"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from supportnet import create_app

app = create_app()
