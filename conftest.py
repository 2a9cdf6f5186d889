"""Root pytest configuration: doctests of optional extras are skipped when the extra is missing."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("trl") else ["src/critkl/trl/*"]
