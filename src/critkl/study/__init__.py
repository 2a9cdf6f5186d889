"""The paper's experiments over seeds, with reports (``critkl reproduce``)."""

from .experiments import EXPERIMENTS, SCALE_SETTINGS, SCALES, Arm, rl_arms
from .reproduce import reproduce

__all__ = ["EXPERIMENTS", "SCALES", "SCALE_SETTINGS", "Arm", "reproduce", "rl_arms"]
