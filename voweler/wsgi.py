"""The WSGI entry point for uWSGI (``module = voweler.wsgi:app`` in uwsgi.ini)."""

from voweler import create_app

app = create_app()
