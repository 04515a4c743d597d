"""pix2pix-stream: one installed package, so that embedding it claims no common top-level name.

The repository keeps one folder per job (``media/``, ``pix2pix/``, ``engines/``, ``server/``,
``client/``, ``protos/``); pyproject maps each folder to a subpackage of ``pix2pix_stream``
(``pix2pix_stream.client`` is ``client/``, and so on). Import them by those names.
"""
__version__ = "0.1.0"
