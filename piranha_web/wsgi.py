"""gunicorn entry point: ``gunicorn piranha_web.wsgi:app`` (works from any directory)."""

from piranha_web.app import create_app

app = create_app()
