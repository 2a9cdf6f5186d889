"""``PrioritizedGRPOTrainer`` on two CPU processes (``accelerate launch``, gloo) against one process.

On a machine without CUDA, ``accelerate launch --multi_gpu --num_processes 2`` starts two
processes through ``torch.distributed.run``; with ``use_cpu=True`` accelerate joins them with
gloo (``--cpu --num_processes 2`` would start one process: accelerate's CPU launcher needs
``mpirun`` for more).

Two things make GRPO differ with the number of processes, whatever the distribution does. GRPO
samples its completions with a per-process seed (TRL's ``set_seed(seed,
device_specific=True)``), so two processes cannot sample what one samples. The comparison
therefore fixes the completions with TRL's ``rollout_func``: for each prompt, the correct
scratchpad and a wrong one in turn (rewards 1, 0, 1, 0), so the advantages, the reference pass,
the certainty, the prioritized weight, the loss, the gradient synchronisation and the logging run
as in training. And one process left-pads the shorter prompt of a batch of two prompts, where two
processes pad none: GPT-2's absolute positions then shift (transformers takes the positions of a
training forward from the cache position, not from the attention mask), which changed the
gradient norm by 3% at the first step when the prompts had different lengths; the prompts here
all have 3-digit operands, hence one length. With the same global batch (2 prompts × 4
completions: one prompt per process, or both on one) the two runs then compute the same loss,
summed in a different order. Measured after 3 AdamW steps (lr 1e-4, steps of at most 3e-4): the
gradient norms agree to 6e-7 (relative), the weights differ by at most 3.6e-6 and by 8e-5 of the
update's norm; the tolerances are ``WEIGHT_RTOL_L2``, ``WEIGHT_ATOL`` and ``METRIC_RTOL``. A
second test runs the example script itself, sampling, on two processes.

This file is also the script the first test launches:
``python tests/critkl/test_distributed.py OUT PROMPTS_PER_PROCESS``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PORTS = {"fixed": "29541", "example": "29542"}  # tests/htc/test_distributed.py uses 29531
STEPS = 3
# AdamW normalises each coordinate's step, so a coordinate whose gradient is near float32 rounding
# can step differently in the two runs: the weights are compared by the norm of their difference
# relative to the norm of the training update, and coordinate-wise within a quarter of an Adam step
WEIGHT_RTOL_L2 = 1e-3
WEIGHT_ATOL = 2.5e-5
METRIC_RTOL = 1e-4
TIMING = ("runtime", "per_second", "time", "epoch")  # logged keys that measure the clock


def train(out: Path, prompts_per_process: int) -> None:
    """3 GRPO steps with fixed completions; each process saves its weights and log."""
    import numpy as np
    import torch
    from datasets import Dataset

    from critkl.arithmetic import prompt, target
    from critkl.trl import PrioritizedGRPOConfig, PrioritizedGRPOTrainer
    from critkl.trl.example import arithmetic_reward, load_policy

    model, tokenizer = load_policy("tiny-n3")

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def rollout(prompts: list[str], trainer) -> dict:
        seen: Counter = Counter()
        completions = []
        for p in prompts:
            a, b = (int(x) for x in re.fullmatch(r"Input:\n(\d+)\+(\d+)\nTarget:", p).groups())
            completions.append(target(a, b) if seen[p] % 2 == 0 else target(a, b + 1))
            seen[p] += 1
        return {"prompt_ids": [ids(p) for p in prompts],
                "completion_ids": [ids(c) for c in completions], "logprobs": None}

    # 3-digit operands: every prompt has the same length, so that no prompt is left-padded (one
    # process pads a shorter prompt in a batch of both, two processes would not, and GPT-2's
    # absolute positions would then differ: see the module's docstring)
    rng = np.random.default_rng(0)
    a, b = rng.integers(100, 999, size=32), rng.integers(100, 998, size=32)
    dataset = Dataset.from_dict({"prompt": [prompt(int(x), int(y)) for x, y in zip(a, b)],
                                 "a": a.tolist(), "b": b.tolist()})
    args = PrioritizedGRPOConfig(
        output_dir=str(out), beta=0.04, kl_weight_beta=150.0, certainty_kind="shannon",
        num_generations=4, per_device_train_batch_size=4 * prompts_per_process,
        max_completion_length=256, learning_rate=1e-4, max_steps=STEPS, logging_steps=1,
        save_strategy="steps", save_steps=STEPS, report_to="none", use_cpu=True, bf16=False,
        seed=0, disable_dropout=True, dataloader_num_workers=0, disable_tqdm=True)
    trainer = PrioritizedGRPOTrainer(model=model, reward_funcs=arithmetic_reward, args=args,
                                     train_dataset=dataset, processing_class=tokenizer,
                                     rollout_func=rollout)
    trainer.train()
    acc = trainer.accelerator
    torch.save({"world": acc.num_processes, "log": trainer.state.log_history,
                "weights": acc.unwrap_model(trainer.model).state_dict()},
               out / f"rank{acc.process_index}.pt")


if __name__ == "__main__":
    train(Path(sys.argv[1]), int(sys.argv[2]))
    sys.exit(0)

import numpy as np  # noqa: E402  (the test part; the script part above needs only torch and TRL)
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("trl")
pytest.importorskip("accelerate")


def run(script_and_args: list[str], processes: int, port: str,
        timeout: int = 420) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "TRL_EXPERIMENTAL_SILENCE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    launcher = [] if processes == 1 else [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", port]
    cmd = [sys.executable, *launcher, *script_and_args]
    try:
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"timed out: {' '.join(cmd)}\n{err.stdout}\n{err.stderr}")
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def fixed_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grpo")
    runs = {}
    for processes, prompts_per_process in ((2, 1), (1, 2)):  # the same global batch
        out = tmp / f"p{processes}"
        out.mkdir()
        res = run([__file__, str(out), str(prompts_per_process)], processes, PORTS["fixed"])
        runs[processes] = (out, res)
    return runs


def steps(log: list[dict]) -> list[dict]:
    """The per-step records of a log, without the keys that measure the clock."""
    return [{k: v for k, v in r.items() if not any(t in k for t in TIMING)}
            for r in log if "reward" in r]


def same(a: list[dict], b: list[dict]) -> bool:
    """Equal records, NaN equal to NaN (as JSON writes them)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_two_processes_agree_and_log_once(fixed_runs):
    out, res = fixed_runs[2]
    r0, r1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert r0["world"] == r1["world"] == 2
    assert all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])
    assert same(steps(r0["log"]), steps(r1["log"])) and len(steps(r0["log"])) == STEPS
    assert {"kl_weight/mean", "kl_weighted", "certainty/mean", "reward", "loss"} <= set(r0["log"][0])
    # TRL's printed log: one line per step, from rank 0 only
    assert sum("'kl_weight/mean'" in line for line in res.stdout.splitlines()) == STEPS


def test_two_process_checkpoint_loads(fixed_runs):
    from transformers import AutoModelForCausalLM

    out, _ = fixed_runs[2]
    folder = out / f"checkpoint-{STEPS}"
    model = AutoModelForCausalLM.from_pretrained(folder)
    weights = torch.load(out / "rank0.pt")["weights"]
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], weights[k]) for k in loaded if k in weights)
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    assert same(steps(state["log_history"]), steps(torch.load(out / "rank0.pt")["log"]))


def test_two_processes_match_one_with_the_same_global_batch(fixed_runs):
    from critkl import load_pretrained

    two = torch.load(fixed_runs[2][0] / "rank0.pt")
    one = torch.load(fixed_runs[1][0] / "rank0.pt")
    assert one["world"] == 1
    start = load_pretrained("tiny-n3")[0].state_dict()
    keys = [k for k in start if k in one["weights"]]
    update = torch.cat([(one["weights"][k] - start[k]).flatten() for k in keys])
    diff = torch.cat([(two["weights"][k] - one["weights"][k]).flatten() for k in keys])
    rel = float(diff.norm() / update.norm())
    print(f"{STEPS} steps: max |weight change| {float(update.abs().max()):.3g}; 2 processes vs "
          f"1: max |difference| {float(diff.abs().max()):.3g}, |difference| / |change| {rel:.3g}")
    assert float(update.abs().max()) > 4 * WEIGHT_ATOL  # the runs did train
    assert rel <= WEIGHT_RTOL_L2 and float(diff.abs().max()) <= WEIGHT_ATOL
    for a, b in zip(steps(two["log"]), steps(one["log"]), strict=True):
        assert set(a) == set(b)
        for key in a:
            if isinstance(a[key], float) and math.isfinite(a[key]):
                assert a[key] == pytest.approx(b[key], rel=METRIC_RTOL, abs=1e-7), key
            else:
                assert a[key] == b[key] or (np.isnan(a[key]) and np.isnan(b[key])), key


def test_example_script_on_two_processes(tmp_path):
    """The documented command, sampling: it runs, reports once, and its saved model loads."""
    from critkl import load_model

    out = tmp_path / "grpo"
    res = run(["examples/critkl_grpo_arithmetic.py", "--steps", "2", "--device", "cpu",
               "--prompts-per-step", "1", "--save", "--output-dir", str(out)], 2,
              PORTS["example"])
    lines = [line for line in res.stdout.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 1", "step 2"], res.stdout
    model, _ = load_model(out / "final")
    assert sum(p.numel() for p in model.parameters()) > 0
