"""WSGI entry point: `gunicorn app:app`, or `flask --app app serve` for the embedded pilot."""

from sbweb import create_app

app = create_app()
