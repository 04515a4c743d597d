"""The gRPC translation service (``pix2pix-serve``).

``pix2pix_stream.server.config.ServerConfig`` describes a server, ``pix2pix_stream.server.app.start_server`` runs one, and
``pix2pix_stream.server.cli.main`` is the command line. The server sees engines only through
``pix2pix_stream.engines.runtime.registry`` and ``pix2pix_stream.engines.runtime.backend.Backend``; it never imports training code.
"""
