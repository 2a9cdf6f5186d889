"""Root pytest configuration: doctests of optional extras are skipped when the extra is missing;
hypothesis runs without per-example deadlines."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("trl") else ["src/critkl/trl/*"]

# Property tests run on small shared CPU machines: a per-example deadline only measures the load.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", deadline=None)
settings.load_profile("ci")
