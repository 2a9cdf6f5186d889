"""GRPO with the prioritized KL on the arithmetic task: the same CLI as ``python -m critkl.trl.example``.

    python examples/critkl_grpo_arithmetic.py --steps 3 --device cpu
    accelerate launch --num_processes 4 examples/critkl_grpo_arithmetic.py --device cuda --bf16

Needs ``pip install 'critkl[trl]'``.
"""

from critkl.trl.example import app

if __name__ == "__main__":
    app()
