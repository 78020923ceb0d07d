"""Domain operations on plain values: no ``request`` here, so the CLI and tests call them too."""
