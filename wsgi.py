"""gunicorn entry point from a checkout: ``gunicorn wsgi:app`` (installed: ``piranha_web.wsgi:app``)."""

from piranha_web.wsgi import app

__all__ = ["app"]
