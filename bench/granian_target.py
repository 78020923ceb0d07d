"""Serve another RSGI target with exactly the options ``flask-nix-stack serve`` gives granian.

    python -m bench.granian_target bench.hello_app:rsgi      (from the repository root, APP_* set)

So a baseline (bench/hot_path.py) differs from the app only in the app.
"""

import sys

from granian import Granian

from server.config import load_settings
from server.serve import granian_options

options = granian_options(load_settings())
options["target"] = sys.argv[1]
Granian(**options).serve()
