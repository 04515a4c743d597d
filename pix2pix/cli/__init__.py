"""Command-line entry points: pix2pix-train and pix2pix-eval."""
