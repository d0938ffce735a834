"""Console scripts: ``piranha-config`` (config.py), ``piranha-gui``, ``piranha-passwd``.

Each script's ``main(argv=None) -> int`` is its entry point; modules import
heavy dependencies (Flask, SQLAlchemy) only inside the subcommands that need
them, so the lvs.cf tools work on a director without the web stack loaded.
"""
