"""The scratchpad format (adapted by the paper from Lee et al. 2024), answer check and samplers, against brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critkl.arithmetic import (
    answer_string,
    episode_length,
    eval_set,
    extract_answer,
    is_correct,
    parse_answer,
    prompt,
    random_number,
    sample_pretrain,
    sample_rl,
    target,
)

SPEC_84629_1863 = """Input:
84629+1863
Target:
<scratch>
[8,4,6,2,9] + [1,8,6,3] , A=[] , C=0 , 9+3+0=12 , A->2 , C->1
[8,4,6,2] + [1,8,6] , A=[2] , C=1 , 2+6+1=9 , A->9 , C->0
[8,4,6] + [1,8] , A=[9,2] , C=0 , 6+8+0=14 , A->4 , C->1
[8,4] + [1] , A=[4,9,2] , C=1 , 4+1+1=6 , A->6 , C->0
[8] + [] , A=[6,4,9,2] , C=0 , 8+0+0=8 , A->8 , C->0
[] + [] , A=[8,6,4,9,2] C=0 , END
</scratch>
8 6 4 9 2
"""
SPEC_57_8 = (
    "Input:\n57+8\nTarget:\n<scratch>\n[5,7] + [8] , A=[] , C=0 , 7+8+0=15 , A->5 , C->1\n"
    "[5] + [] , A=[5] , C=1 , 5+0+1=6 , A->6 , C->0\n[] + [] , A=[6,5] C=0 , END\n</scratch>\n6 5\n"
)

operands = st.integers(min_value=0, max_value=10**12)


def test_spec_examples_character_for_character():
    assert prompt(84629, 1863) + target(84629, 1863) == SPEC_84629_1863
    assert prompt(57, 8) + target(57, 8) == SPEC_57_8


def test_final_carry_is_leading_digit():
    assert target(999, 999).endswith("[] + [] , A=[9,9,8] C=1 , END\n</scratch>\n1 9 9 8\n")


@pytest.mark.parametrize(
    "n,expected", [(3, 242), (5, 390), (7, 562), (8, 657), (9, 758), (13, 1222), (15, 1490)]
)
def test_episode_lengths_match_spec_table(n, expected):
    assert episode_length(n) == expected


@given(operands, operands)
def test_every_scratchpad_parses_back_to_the_sum(a, b):
    text = prompt(a, b) + target(a, b)
    assert parse_answer(text) == a + b
    assert is_correct(text, a, b)


def _brute_force_lines(a: int, b: int) -> list[tuple[list[int], list[int], int]]:
    """Column addition by hand: (remaining digits of a, of b, carry) before each line."""
    xs, ys = [int(c) for c in str(a)], [int(c) for c in str(b)]
    out, carry = [], 0
    while xs or ys:
        out.append((list(xs), list(ys), carry))
        s = (xs.pop() if xs else 0) + (ys.pop() if ys else 0) + carry
        carry = s // 10
    return out


@given(operands, operands)
def test_scratchpad_lines_follow_column_addition(a, b):
    lines = target(a, b).split("\n")
    assert lines[0] == "" and lines[1] == "<scratch>"
    steps = _brute_force_lines(a, b)
    assert len(lines) == len(steps) + 6  # '', <scratch>, steps, END line, </scratch>, result, ''
    for line, (xs, ys, carry) in zip(lines[2:], steps, strict=False):
        head = f"[{','.join(map(str, xs))}] + [{','.join(map(str, ys))}] , A="
        assert line.startswith(head)
        assert f" , C={carry} , " in line


@settings(max_examples=60)
@given(operands, operands, st.data())
def test_success_check_rejects_every_single_character_corruption(a, b, data):
    text = target(a, b)
    start = text.index("</scratch>\n") + len("</scratch>\n")
    line = answer_string(a, b)
    alphabet = "0123456789 \n,[]+=%-ABC"
    for i in range(len(line)):
        for c in alphabet:
            if c == line[i]:
                continue
            corrupted = text[: start + i] + c + text[start + i + 1 :]
            assert not is_correct(corrupted, a, b), (i, c)
    # deleting or inserting one character is rejected too
    i = data.draw(st.integers(0, len(line) - 1))
    assert not is_correct(text[: start + i] + text[start + i + 1 :], a, b)
    assert not is_correct(text[: start + i] + "7" + text[start + i :], a, b)


def test_answer_parsing_edge_cases():
    assert extract_answer("no scratchpad") is None
    assert parse_answer("</scratch>\n") is None
    assert parse_answer("</scratch>\n1 2\n") == 12
    assert parse_answer("</scratch>\n12\n") is None  # digits must be space separated
    assert parse_answer("</scratch>\n1 2") == 12  # unterminated line: up to the end
    assert not is_correct("</scratch>\n1 2 \n", 5, 7)


def test_bad_operands_raise_clear_errors():
    with pytest.raises(ValueError, match="a must be a non-negative int"):
        prompt(-1, 2)
    with pytest.raises(TypeError, match="b must be a non-negative int"):
        target(1, "2")


@given(st.integers(1, 15), st.integers(0, 2**32 - 1))
def test_random_number_has_exact_digit_count(d, seed):
    x = random_number(d, np.random.default_rng(seed))
    assert len(str(x)) == d


def test_pretrain_sampler_is_balanced_over_lengths():
    rng = np.random.default_rng(0)
    problems = [sample_pretrain(4, rng) for _ in range(4000)]
    counts = np.bincount([p.digits for p in problems], minlength=5)[1:]
    assert counts.min() > 850 and counts.max() < 1150  # expected 1000 each
    equal = sum(len(str(p.a)) == len(str(p.b)) for p in problems)
    assert 0.3 < equal / len(problems) < 0.75  # both equal and unequal pairs


def test_rl_sampler_plus_k():
    rng = np.random.default_rng(1)
    n, k = 3, 2
    problems = [sample_rl(n, k, rng) for _ in range(2000)]
    assert all(p.digits == n + k for p in problems)
    shorter = [min(len(str(p.a)), len(str(p.b))) for p in problems]
    in_comfort = np.mean([s <= n for s in shorter])
    assert 0.44 < in_comfort < 0.56
    first_long = np.mean([len(str(p.a)) == n + k for p in problems])
    assert 0.44 < first_long < 0.7


def test_eval_sets_are_fixed_and_shaped():
    ident = eval_set(5, "identical", size=200, seed=3)
    assert ident == eval_set(5, "identical", size=200, seed=3)
    assert ident != eval_set(5, "identical", size=200, seed=4)
    assert all(len(str(p.a)) == len(str(p.b)) == 5 for p in ident)
    vary = eval_set(5, "varying", size=200, seed=3)
    assert all(max(len(str(p.a)), len(str(p.b))) == 5 for p in vary)
    assert all(min(len(str(p.a)), len(str(p.b))) < 5 for p in vary)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: sample_pretrain(0, np.random.default_rng(0)), "max_digits must be an int >= 1"),
        (lambda: sample_rl(3, 0, np.random.default_rng(0)), "k must be an int >= 1"),
        (lambda: eval_set(0, "identical"), "digits must be an int >= 1"),
        (lambda: eval_set(3, "same"), "kind must be one of"),
    ],
)
def test_bad_sampler_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
