"""piranha-web: an LVS director control plane (console + pulse).

Importing this package must stay cheap and must not import Flask: pulse and
the lvs.cf tools import it too.
"""

__version__ = "0.1.0"
