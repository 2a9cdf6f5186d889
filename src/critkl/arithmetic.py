"""The scratchpad addition task: text format, answer check, problem samplers (paper and the authors' official code).

The prompt and the scratchpad continuation follow the official code's
``TemplateManager.decompose_add_scratchpad0`` character for character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCRATCH_OPEN = "<scratch>"
SCRATCH_CLOSE = "</scratch>\n"
EVAL_KINDS = ("identical", "varying")


@dataclass(frozen=True)
class Problem:
    """One addition problem ``a + b`` (non-negative integers, checked on construction).

    >>> Problem(57, -8)
    Traceback (most recent call last):
    ...
    ValueError: b must be a non-negative int, got -8
    """

    a: int
    b: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _check_operand("a", self.a))
        object.__setattr__(self, "b", _check_operand("b", self.b))

    @property
    def digits(self) -> int:
        """Number of digits of the longer operand."""
        return max(len(str(self.a)), len(str(self.b)))

    @property
    def prompt(self) -> str:
        return prompt(self.a, self.b)

    @property
    def target(self) -> str:
        return target(self.a, self.b)


def _check_operand(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return int(value)


def prompt(a: int, b: int) -> str:
    """The prompt of the official code.

    >>> prompt(57, 8)
    'Input:\\n57+8\\nTarget:'
    """
    a, b = _check_operand("a", a), _check_operand("b", b)
    return f"Input:\n{a}+{b}\nTarget:"


def _digit_list(digits: list[str]) -> str:
    return "[" + ",".join(digits) + "]"


def target(a: int, b: int) -> str:
    """The scratchpad continuation that follows ``prompt(a, b)`` (the authors' official template).

    One line per digit position, least-significant first, then the final
    ``[] + [] , A=[...] C=c , END`` line (no comma before ``C=``), ``</scratch>``,
    and the result as space-separated digits.

    >>> print(target(57, 8), end="")
    <BLANKLINE>
    <scratch>
    [5,7] + [8] , A=[] , C=0 , 7+8+0=15 , A->5 , C->1
    [5] + [] , A=[5] , C=1 , 5+0+1=6 , A->6 , C->0
    [] + [] , A=[6,5] C=0 , END
    </scratch>
    6 5
    """
    a, b = _check_operand("a", a), _check_operand("b", b)
    x, y = list(str(a)), list(str(b))
    answer: list[str] = []
    carry = 0
    lines = []
    while x or y:
        dx = int(x[-1]) if x else 0
        dy = int(y[-1]) if y else 0
        s = dx + dy + carry
        lines.append(
            f"{_digit_list(x)} + {_digit_list(y)} , A={_digit_list(answer)} , C={carry} , "
            f"{dx}+{dy}+{carry}={s} , A->{s % 10} , C->{s // 10}"
        )
        x, y = x[:-1], y[:-1]
        answer = [str(s % 10)] + answer
        carry = s // 10
    lines.append(f"[] + [] , A={_digit_list(answer)} C={carry} , END")
    result = ([str(carry)] if carry else []) + answer
    return "\n" + SCRATCH_OPEN + "\n" + "\n".join(lines) + "\n" + SCRATCH_CLOSE + " ".join(result) + "\n"


def answer_string(a: int, b: int) -> str:
    """The expected result line: the digits of ``a + b`` separated by spaces.

    >>> answer_string(999, 999)
    '1 9 9 8'
    """
    a, b = _check_operand("a", a), _check_operand("b", b)
    return " ".join(str(a + b))


def extract_answer(text: str) -> str | None:
    """The text between the first ``</scratch>\\n`` and the next ``\\n`` (or the end).

    Returns ``None`` when the scratchpad was never closed.

    >>> extract_answer("...</scratch>\\n6 5\\n")
    '6 5'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    start = text.find(SCRATCH_CLOSE)
    if start < 0:
        return None
    rest = text[start + len(SCRATCH_CLOSE) :]
    end = rest.find("\n")
    return rest if end < 0 else rest[:end]


def parse_answer(text: str) -> int | None:
    """The integer written on the result line, or ``None`` if it is not well formed.

    Well formed means single digits separated by single spaces.

    >>> parse_answer(target(57, 8))
    65
    """
    line = extract_answer(text)
    if not line:
        return None
    parts = line.split(" ")
    if not all(len(p) == 1 and p.isdigit() and p.isascii() for p in parts):
        return None
    return int("".join(parts))


def is_correct(text: str, a: int, b: int) -> bool:
    """The official success check: the result line equals ``answer_string(a, b)`` exactly.

    ``text`` is the generated continuation (or prompt + continuation); the scratchpad
    itself is not checked (as in the authors' official code).

    >>> is_correct(target(57, 8), 57, 8), is_correct(target(57, 8), 57, 9)
    (True, False)
    """
    return extract_answer(text) == answer_string(a, b)


def correct_prefix_fraction(text: str, a: int, b: int) -> float:
    r"""Fraction of the target continuation that ``text`` reproduces before its first wrong
    character (1.0 for the exact target).

    >>> correct_prefix_fraction(target(57, 8), 57, 8)
    1.0
    >>> t = target(57, 8)
    >>> correct_prefix_fraction(t[:10] + "#", 57, 8) == 10 / len(t)
    True
    """
    want = target(a, b)
    k = 0
    for x, y in zip(text, want):
        if x != y:
            break
        k += 1
    return k / len(want)


# --------------------------------------------------------------------------- samplers


def _check_digits(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def random_number(digits: int, rng: np.random.Generator) -> int:
    """A uniform number with exactly ``digits`` digits (one digit: 0-9, zero allowed).

    >>> 10 <= random_number(2, np.random.default_rng(0)) <= 99
    True
    """
    digits = _check_digits("digits", digits)
    if digits == 1:
        return int(rng.integers(0, 10))
    if digits <= 18:  # within int64
        return int(rng.integers(10 ** (digits - 1), 10**digits))
    head = int(rng.integers(1, 10))
    return int(str(head) + "".join(str(int(d)) for d in rng.integers(0, 10, size=digits - 1)))


def _ordered(x: int, y: int, rng: np.random.Generator) -> Problem:
    return Problem(x, y) if rng.random() < 0.5 else Problem(y, x)


def sample_pretrain(max_digits: int, rng: np.random.Generator) -> Problem:
    """Pre-training problem, balanced over the longer operand's length 1..N (as in the paper).

    The longer length is uniform in 1..N, the other uniform in 1..longer, order random.

    >>> sample_pretrain(3, np.random.default_rng(0)).digits <= 3
    True
    """
    n = _check_digits("max_digits", max_digits)
    longest = int(rng.integers(1, n + 1))
    other = int(rng.integers(1, longest + 1))
    return _ordered(random_number(longest, rng), random_number(other, rng), rng)


def sample_rl(max_digits: int, k: int, rng: np.random.Generator) -> Problem:
    """RL problem ``plus k`` of the authors' official code.

    One operand has N+k digits; the other is uniform in [1, N] half the time and in
    [N+1, N+k] otherwise; order random.

    >>> sample_rl(3, 1, np.random.default_rng(0)).digits
    4
    """
    n = _check_digits("max_digits", max_digits)
    k = _check_digits("k", k)
    long = random_number(n + k, rng)
    if rng.random() < 0.5:
        other_digits = int(rng.integers(1, n + 1))
    else:
        other_digits = int(rng.integers(n + 1, n + k + 1))
    return _ordered(long, random_number(other_digits, rng), rng)


def eval_set(digits: int, kind: str, size: int = 1000, seed: int = 0) -> list[Problem]:
    """A fixed evaluation set (paper App. A).

    ``identical``: both operands have exactly ``digits`` digits. ``varying``: one has
    ``digits`` digits, the other a uniform length in 1..digits-1 (for ``digits == 1``
    both have one digit). The same ``(digits, kind, size, seed)`` always gives the
    same problems.

    >>> [p.digits for p in eval_set(4, "varying", size=3)]
    [4, 4, 4]
    """
    digits = _check_digits("digits", digits)
    if kind not in EVAL_KINDS:
        raise ValueError(f"kind must be one of {EVAL_KINDS}, got {kind!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}")
    rng = np.random.default_rng([seed, digits, EVAL_KINDS.index(kind)])
    problems = []
    for _ in range(size):
        long = random_number(digits, rng)
        if kind == "identical" or digits == 1:
            other = random_number(digits, rng)
        else:
            other = random_number(int(rng.integers(1, digits)), rng)
        problems.append(_ordered(long, other, rng))
    return problems


def all_nines(digits: int) -> Problem:
    """The longest problem with ``digits``-digit operands: two all-9s numbers."""
    digits = _check_digits("digits", digits)
    n = 10**digits - 1
    return Problem(n, n)


def episode_length(digits: int) -> int:
    """Characters of prompt + continuation for two all-9s operands.

    >>> episode_length(3), episode_length(7)
    (242, 562)
    """
    p = all_nines(digits)
    return len(p.prompt) + len(p.target)
