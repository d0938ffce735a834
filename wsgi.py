"""gunicorn entry point: ``gunicorn wsgi:app``."""

from piranha_web.app import create_app

app = create_app()
