"""Engines: generators exported to engine directories (``build``) and run by backends (``runtime``).

``runtime`` is what a serving host imports: the backend interface, the registry that picks a
backend, engine.json, and the backends themselves (each imports its heavy package only when
chosen). It may also build a TensorRT plan for the host's own GPU. It never imports the training
package. ``build`` turns checkpoints (pix2pix-stream's or the official code's) into engine
directories; it may import the training package and torch. See docs/ARCHITECTURE.md.
"""
