"""Checkpoints that resume a run exactly: weights, optimizer, scheduler, RNG and loop position."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from htc.run_folder import atomic_path


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),  # noqa: NPY002
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002 (global state that libraries use)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a unique temporary file beside ``path``, then rename it to ``path``: a
    process killed at any point leaves ``path`` as it was or whole, never half-written. An error
    removes the temporary file; a full disk or a file-size limit says that the previous file is kept."""
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except Exception as e:  # a full disk, a file-size limit (torch raises RuntimeError)
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise OSError(f"cannot write {path} ({msg}); the previous one is kept") from None


def save_checkpoint(path: Path, **state) -> None:
    """Write atomically: a crash while saving leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic({**state, "rng": rng_state()}, path)


def save_weights(path: Path, state_dict: dict) -> None:
    """``torch.save`` a state dict atomically (a temporary name, then a rename)."""
    _save_atomic(state_dict, Path(path))


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no checkpoint to resume from") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable checkpoint ({err})") from None
