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

import sys
from importlib import import_module
from importlib.util import find_spec

_NEEDS = "critkl.trl needs TRL: pip install 'critkl[trl]' (installs trl, datasets and peft)"


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if not _installed("trl"):  # found without importing it (importing TRL takes seconds)
    raise ImportError(_NEEDS)

_EXPORTS = {"PrioritizedGRPOConfig": ".config", "PrioritizedGRPOTrainer": ".trainer", "CERTAINTY_KEY": ".trainer"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the TRL-backed names on first use, so that ``python -m critkl.trl.example --help`` and other
    light entry points do not load TRL."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'critkl.trl' has no attribute {name!r}")
    try:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("trl", "datasets", "peft"):
            raise
        raise ImportError(_NEEDS) from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
