"""Imported first by ``htc.losses``, ``htc.encoders`` and ``htc.training``: without torch they stop
with one line that names the extra to install (``htc[train]``), not a bare ``No module named``."""

from htc._extras import require

require("htc's training code (htc.losses, htc.encoders, htc.training)", "torch", "safetensors")
