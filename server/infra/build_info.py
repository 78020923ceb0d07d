"""Which source this build came from, for the build_info metric.

"unknown" in a checkout; a packaged build replaces it with the git revision.
"""

REVISION = "unknown"
