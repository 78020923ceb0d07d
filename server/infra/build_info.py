"""Which source this build came from, for the build_info metric.

The OCI image sets FNS_BUILD_REVISION to the flake's git revision (nix/image.nix); elsewhere it
is "unknown" unless the deployment sets it. One value per process: a bounded label.
"""

from __future__ import annotations

import os

REVISION = os.environ.get("FNS_BUILD_REVISION") or "unknown"
