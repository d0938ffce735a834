"""pulse's runtime tier: per-real-server states set while running, the local channel, traffic samples.

``states`` is pure (the console imports it to validate and to preview);
``store`` persists the states in pulse's runtime directory; ``channel`` is
the Unix socket the console talks to; ``sampler`` keeps the counter ring;
``control`` ties them to the daemon.
"""
