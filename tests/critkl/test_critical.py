"""Critical-token locations and ΔJ against brute-force references."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from critkl.arithmetic import Problem
from critkl.critical import critical_positions, delta_j, token_certainty
from critkl.kl import certainty
from critkl.tokenizer import encode


def _brute_critical(p: Problem, n: int) -> set[tuple[int, str]]:
    """Walk the text: on lines 1-3, each over-long operand list's last 2g characters before ']'."""
    text = p.target
    lines = text.split("\n")[2:5]
    start = len("\n<scratch>\n")
    found = set()
    for line in lines:
        if line.startswith("[] + [] "):
            break
        left, right = line.split(" + ", 1)
        lists = [(0, left), (len(left) + 3, right[: right.index("]") + 1])]
        for j, (off, lst) in enumerate(lists):
            g = len(str((p.a, p.b)[j])) - n
            close = off + lst.index("]")
            for idx in range(max(close - 2 * g, off + 1), close):
                found.add((start + idx, "comma" if line[idx] == "," else "digit"))
        start += len(line) + 1
    return found


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(1, 5))
def test_critical_positions_match_brute_force(a, b, n):
    p = Problem(a, b)
    got = {(t.index, t.kind) for t in critical_positions(p, n)}
    assert got == _brute_critical(p, n)
    for t in critical_positions(p, n):
        assert p.target[t.index] == ("," if t.kind == "comma" else p.target[t.index])
        assert t.kind != "digit" or p.target[t.index].isdigit()


def test_n_plus_1_example():
    p = Problem(1234, 5)
    names = {t.name: p.target[t.index] for t in critical_positions(p, 3)}
    assert names == {
        "step_1/operand_1/n+1_comma": ",", "step_1/operand_1/n+1_digit": "4",
        "step_2/operand_1/n+1_comma": ",", "step_2/operand_1/n+1_digit": "3",
        "step_3/operand_1/n+1_comma": ",", "step_3/operand_1/n+1_digit": "2",
    }


def test_no_critical_tokens_within_training_length():
    assert critical_positions(Problem(999, 12), 3) == []


@given(st.lists(st.floats(0, 1), min_size=2, max_size=50))
def test_delta_j_matches_brute_force(values):
    j = np.array(values)
    expected = [j[i] - np.mean(np.delete(j, i)) for i in range(len(j))]
    np.testing.assert_allclose(delta_j(j), expected, atol=1e-12)


def test_delta_j_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2"):
        delta_j(np.array([0.5]))


def test_token_certainty_matches_prefix_by_prefix_forward(random_tiny):
    p = Problem(57, 8)
    text = p.target[:30]
    got = token_certainty(random_tiny, p, text, kind="max_prob", temperature=4.0)
    ids = encode(p.prompt + text)
    n = len(encode(p.prompt))
    with torch.no_grad():
        ref = [float(certainty(random_tiny(torch.tensor([ids[: n + i]])).logits[0, -1], "max_prob", 4.0))
               for i in range(len(text))]
    np.testing.assert_allclose(got, ref, atol=1e-5)
