"""What a serving host runs: backend interface, registry, engine metadata, backends."""
