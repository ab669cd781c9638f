"""The WSGI entry point for waitress, gunicorn and the flask CLI."""

from webapp import create_app

app = create_app()
