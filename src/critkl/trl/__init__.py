"""Prioritized KL in TRL's GRPO trainer: ``PrioritizedGRPOConfig`` and ``PrioritizedGRPOTrainer``.

Needs the optional extra: ``pip install 'critkl[trl]'``. The rest of ``critkl`` never imports TRL.

>>> from critkl.trl import PrioritizedGRPOConfig, PrioritizedGRPOTrainer  # doctest: +SKIP
>>> args = PrioritizedGRPOConfig(output_dir="runs/grpo", beta=0.04,  # TRL's beta = the paper's alpha
...                              kl_weight_beta=150.0, certainty_kind="max_prob",
...                              certainty_temperature=4.0)  # doctest: +SKIP
>>> PrioritizedGRPOTrainer(model="path/to/model", reward_funcs=reward, args=args,
...                        train_dataset=dataset).train()  # doctest: +SKIP

See ``docs/critkl-trl.md``.
"""

try:
    import trl as _trl  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "critkl.trl needs TRL: pip install 'critkl[trl]' (installs trl and datasets)"
    ) from exc

from .config import PrioritizedGRPOConfig
from .trainer import CERTAINTY_KEY, PrioritizedGRPOTrainer

__all__ = ["CERTAINTY_KEY", "PrioritizedGRPOConfig", "PrioritizedGRPOTrainer"]
