"""``python -m server`` is the ``flask-nix-stack`` command."""

from server.cli import main

main()
