"""Not a distribution: this repository builds two, each from its own folder (see README.md)."""

import sys

sys.exit("This repository holds two distributions; install them from their folders:\n"
         "  pip install ./packages/htc       # htc's core, no torch; extras train, study, encoders\n"
         "  pip install ./packages/critkl    # critkl; extra trl\n"
         "or run `make venv` (both, editable, with the development tools).")
