"""The gRPC translation service (``pix2pix-serve``).

``server.config.ServerConfig`` describes a server, ``server.app.start_server`` runs one, and
``server.cli.main`` is the command line. The server sees engines only through
``engines.registry`` and ``engines.backend.Backend``; it never imports training code.
"""
