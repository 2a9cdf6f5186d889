"""The RL trainer: exact resume on CPU, every algorithm/KL mode runs, logs and config errors."""

import json

import numpy as np
import pytest
import torch

from critkl.model import build_model
from critkl.rl import RLConfig, Trainer
from critkl.tokenizer import CharTokenizer

# a random model is uncertain everywhere: its prioritized weight collapses by design here
pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")

TIMING = ("time_", "episodes_per_s", "tokens_per_s", "wall_s")


def _trainer(tmp_path, name, **kw):
    cfg = dict(out_dir=str(tmp_path / name), train_digits=2, advantage="gae", episodes=4, episodes_per_collect=2,
               minibatch_episodes=1, test_episodes=2, in_dist_episodes=1, eval_greedy=False, lr=1e-3,
               seed=3, beta=2.0)
    cfg.update(kw)
    return Trainer(RLConfig(**cfg), lm=build_model("tiny", 1, seed=0), tokenizer=CharTokenizer())


def _records(folder):
    recs = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in recs]


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_interrupted_run_resumes_identically(tmp_path, algo):
    torch.set_num_threads(1)
    full = _trainer(tmp_path, "full", algo=algo, ppo_epochs=2)
    full.run(resume=False)
    part = _trainer(tmp_path, "part", algo=algo, ppo_epochs=2)
    part.run(resume=False, until=1)
    resumed = _trainer(tmp_path, "part", algo=algo, ppo_epochs=2)
    resumed.run(resume=True)
    assert resumed.iteration == full.iteration == 2
    for (k, a), b in zip(full.policy.state_dict().items(), resumed.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert _records(tmp_path / "full") == _records(tmp_path / "part")
    assert (tmp_path / "full" / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("kl,placement", [("none", "loss"), ("standard", "reward"), ("prioritized", "loss")])
def test_kl_modes_run_and_log(tmp_path, kl, placement):
    t = _trainer(tmp_path, kl, kl=kl, kl_placement=placement, episodes=2, variant="paper")
    t.run(resume=False)
    rec = _records(tmp_path / kl)[-1]
    for key in ("train_reward", "kl", "entropy", "w_other_mean", "heldout_acc_sampled", "loss_kl"):
        assert key in rec
    assert rec["train_reward"] in (0.0, 0.5, 1.0)  # paper variant: 1/0 rewards
    if kl == "none":
        assert rec["loss_kl"] == 0.0 and rec["w_other_mean"] == 1.0
    if kl == "prioritized":
        assert 0.0 <= rec["w_other_mean"] <= 1.0


def test_reference_is_frozen_and_policy_moves(tmp_path):
    t = _trainer(tmp_path, "moves", episodes=2)
    before = {k: v.clone() for k, v in t.reference.state_dict().items()}
    p0 = t.policy.lm.transformer.wte.weight.detach().clone()
    t.run(resume=False)
    assert all(torch.equal(before[k], v) for k, v in t.reference.state_dict().items())
    assert not torch.equal(p0, t.policy.lm.transformer.wte.weight)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="algo"):
        RLConfig(algo="sac").resolved()
    with pytest.raises(ValueError, match="kl_placement"):
        RLConfig(kl_placement="both").resolved()
    with pytest.raises(ValueError, match="train_digits"):
        _trainer(tmp_path, "x", train_digits=1)
    with pytest.raises(ValueError, match="variant"):
        RLConfig(variant="mine").resolved()
    with pytest.raises(ValueError, match="adam_eps"):
        RLConfig(adam_eps=0.0).resolved()
    assert _trainer(tmp_path, "eps", adam_eps=1e-4).optimizer.defaults["eps"] == 1e-4
    t = _trainer(tmp_path, "cfg", episodes=2)
    t.run(resume=False, until=1)
    with pytest.raises(ValueError, match="different config"):
        _trainer(tmp_path, "cfg", episodes=2, lr=0.5).run(resume=True)


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_update_moves_an_episode_in_the_direction_of_its_advantage(tmp_path, algo, sign):
    """One update whose only non-zero advantage is on episode 0 raises (A > 0) or lowers (A < 0)
    that episode's log-probability: the end-to-end sign and alignment of the policy gradient."""
    from critkl.arithmetic import Problem
    from critkl.rollout import sample_episodes, sequence_logprobs

    torch.set_num_threads(1)
    t = _trainer(tmp_path, "dir", algo=algo, kl="none", alpha=0.0, value_coef=0.0, entropy_coef=0.0,
                 lr=1e-3, minibatch_episodes=4, ppo_epochs=1)
    problems = [Problem(12, 7), Problem(3, 45), Problem(60, 8), Problem(9, 9)]
    t.policy.lm.eval()
    ro = sample_episodes(t.policy.lm, problems, 1.0, torch.Generator().manual_seed(0))
    prep = t.prepare(ro)
    prep["adv"] = torch.zeros_like(prep["adv"])
    prep["adv"][0] = sign * ro.action_mask[0].float()
    with torch.no_grad():
        before = sequence_logprobs(t.policy.lm, ro).sum(-1)
    t.update(ro, prep)
    with torch.no_grad():
        after = sequence_logprobs(t.policy.lm, ro).sum(-1)
    assert sign * float(after[0] - before[0]) > 0.1


def test_static_decoding_rollouts_train(tmp_path):
    torch.set_num_threads(1)
    t = _trainer(tmp_path, "static", decoding="static")
    t.run(resume=False)
    assert len(_records(tmp_path / "static")) >= 2
    with pytest.raises(ValueError, match="decoding must be"):
        _trainer(tmp_path, "bad", decoding="graph")


def _load_example(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_example(monkeypatch, capsys, name, *argv):
    import sys

    module = _load_example(name)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    module.main()
    return capsys.readouterr().out


def test_sanity_example_runs(monkeypatch, capsys):
    out = _run_example(monkeypatch, capsys, "critkl_rl_sanity", "--collects", "1", "--threads", "1")
    assert "collect   0  reward" in out and "mean reward per 10 collects" in out
    out = _run_example(monkeypatch, capsys, "critkl_rl_sanity", "--collects", "1", "--optimizer", "sgd",
                       "--advantage", "success", "--trainable", "ln_f", "--lr", "0.01")
    assert "collect   0  reward" in out


def test_diagnostic_examples_run(monkeypatch, capsys):
    out = _run_example(monkeypatch, capsys, "critkl_weight_noise", "--eps", "1e-4", "--seeds", "1")
    assert "unperturbed: sampled accuracy" in out and "eps 0.0001, seed 0" in out
    out = _run_example(monkeypatch, capsys, "critkl_sft_upper_bound", "--steps", "1", "--every", "1",
                       "--batch", "2")
    assert "step 0:" in out and "step 1: loss" in out
    out = _run_example(monkeypatch, capsys, "critkl_adam_first_step", "--steps", "1", "--only", "ln_f")
    assert "training 2 tensors" in out
    out = _run_example(monkeypatch, capsys, "critkl_next_length_signal", "tiny-n3", "--problems", "4",
                       "--samples", "1")
    assert "N+1 signal on sample_rl(N, 1)" in out and "step 4" in out and "result" in out


def test_next_length_signal_lines_add_up_to_the_total():
    from critkl.arithmetic import target

    module = _load_example("critkl_next_length_signal")
    text = target(5055, 8947)
    logps = -np.arange(1, len(text) + 1, dtype=float) / 100
    lines = module.per_line_logprob(text, logps)
    assert len(lines) == len(module.line_names(4)) == 4 + 4
    assert np.isclose(sum(lines), logps.sum())
    first_line = text.index("\n", 1) + 1  # the leading newline and "<scratch>\n"
    assert np.isclose(lines[0], logps[:first_line].sum())


def test_trainable_trains_only_the_matching_parameters(tmp_path):
    torch.set_num_threads(1)
    t = _trainer(tmp_path, "lnf", trainable=r"ln_f", episodes=2)
    before = {k: v.detach().clone() for k, v in t.policy.lm.named_parameters()}
    trained = {id(p) for g in t.optimizer.param_groups for p in g["params"]}
    lm_trained = [n for n, p in t.policy.lm.named_parameters() if id(p) in trained]
    assert lm_trained == ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    assert all(id(p) in trained for p in t.policy.value_head.parameters())
    t.run(resume=False)
    for name, p in t.policy.lm.named_parameters():
        assert torch.equal(before[name], p) != name.startswith("transformer.ln_f"), name


def test_trainable_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="trainable must be a regular expression"):
        RLConfig(trainable="ln_(").resolved()
    with pytest.raises(ValueError, match="trainable='nothing_like_this' matches no"):
        _trainer(tmp_path, "none", trainable="nothing_like_this")


def test_select_trainable_keeps_frozen_positions_frozen():
    from critkl.rl.trainer import select_trainable

    lm = build_model("tiny", 1, seed=0, position_embeddings=False)
    names = select_trainable(lm, "")
    assert "transformer.wpe.weight" not in names and "transformer.wte.weight" in names
    assert select_trainable(lm, "wpe|ln_f") == ["transformer.ln_f.weight", "transformer.ln_f.bias"]


def test_pretrained_digits_overrides_the_models_length(tmp_path):
    lm = build_model("tiny", 3, seed=0)
    cfg = RLConfig(out_dir=str(tmp_path / "n"), pretrained_digits=2, train_digits=3, test_episodes=8,
                   in_dist_episodes=2)
    t = Trainer(cfg, lm=lm, tokenizer=CharTokenizer())
    assert (t.n, t.k) == (2, 1)
    assert max(max(len(str(p.a)), len(str(p.b))) for p in t.test_problems) == 3
    assert all(max(p.a, p.b) < 100 for p in t.in_dist_problems)
    with pytest.raises(ValueError, match="exceed the pre-training length N=3"):
        Trainer(RLConfig(out_dir=str(tmp_path / "m"), train_digits=3), lm=lm, tokenizer=CharTokenizer())
    with pytest.raises(ValueError, match="pretrained_digits"):
        RLConfig(pretrained_digits=-1).resolved()


def test_tensorboard_scalars_go_to_the_run_folder(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _trainer(tmp_path, "tb", episodes=2, tensorboard=True).run(resume=False)
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    assert {"train_reward", "kl", "entropy"} <= set(acc.Tags()["scalars"])
    assert json.loads((tmp_path / "tb" / "config.json").read_text())["tensorboard"] is True
