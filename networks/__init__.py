"""The pix2pix networks (U-Net generator, PatchGAN discriminator) as plain torch modules.

Its own floor so that serving can rebuild a generator (the torch backend) without importing the
training package: this imports torch and nothing else of the project."""
