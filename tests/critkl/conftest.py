"""Shared fixtures: a randomly initialised tiny model (fast) and the shipped tiny-n3."""

import pytest
import torch

from critkl.model import build_model


@pytest.fixture(scope="session")
def random_tiny():
    torch.manual_seed(0)
    return build_model("tiny", 3, seed=0).eval()


@pytest.fixture(scope="session")
def tiny_n3():
    from critkl import load_pretrained

    return load_pretrained("tiny-n3")
