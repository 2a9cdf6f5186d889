"""Pre-training: batches, schedule, exact resume, bad configs."""

import json

import pytest
import torch

from critkl.model import build_model, load_model
from critkl.pretrain import PretrainConfig, heldout_metrics, lr_factor, make_batch, pretrain
from critkl.tokenizer import decode


def test_batch_labels_cover_exactly_the_continuation():
    ids, labels = make_batch(3, 8, seed=1, step=5)
    for row_ids, row_labels in zip(ids, labels, strict=True):
        text = decode(row_ids)
        cont = decode(row_labels[row_labels != -100])
        assert text.startswith("Input:\n") and cont.startswith("\n<scratch>\n") and cont.endswith("\n")
        assert text.rstrip("%").endswith(cont)
    assert torch.equal(make_batch(3, 8, 1, 5)[0], ids)  # a step's batch is fixed


def test_lr_schedule_warmup_then_cosine():
    f = [lr_factor(s, 10, 100, 0.1) for s in range(101)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert f[100] == pytest.approx(0.1)


def _config(tmp_path, **kw):
    base = dict(max_digits=2, size="tiny", out_dir=str(tmp_path), steps=4, batch_size=4, warmup_steps=2,
                log_every=1, eval_every=100, eval_size=2, checkpoint_every=100, seed=7)
    return PretrainConfig(**(base | kw))


def test_resume_is_exact(tmp_path):
    straight = pretrain(_config(tmp_path / "a"), progress=False)
    pretrain(_config(tmp_path / "b"), progress=False, until=2)
    resumed = pretrain(_config(tmp_path / "b"), progress=False)
    m1, _ = load_model(straight)
    m2, _ = load_model(resumed)
    for (n1, p1), (_, p2) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(p1, p2), n1
    assert (resumed / "training_config.json").is_file()
    lines = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 4  # steps 1-2, then 3-4 after the resume


def test_loss_decreases(tmp_path):
    import json

    pretrain(_config(tmp_path, steps=30, lr=3e-3, warmup_steps=5), progress=False)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


@pytest.mark.parametrize(
    "kw,match",
    [({"max_digits": 0}, "max_digits must be an int >= 1"), ({"steps": 0}, "steps must be >= 1"),
     ({"lr": 0.0}, "lr must be > 0")],
)
def test_bad_config(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        pretrain(_config(tmp_path, **kw), progress=False)


def test_checkpoint_missing_trainer_state(tmp_path):
    pretrain(_config(tmp_path), progress=False, until=1)
    (tmp_path / "checkpoint" / "trainer_state.pt").unlink()
    with pytest.raises(FileNotFoundError, match="is missing trainer_state.pt"):
        pretrain(_config(tmp_path), progress=False)


def test_position_offsets_stay_inside_the_context():
    from critkl.pretrain import position_offsets

    for step in range(20):
        pos = position_offsets(8, 50, 64, seed=3, step=step)
        assert pos.shape == (8, 50) and int(pos.min()) >= 0 and int(pos.max()) <= 63
        assert torch.equal(pos[:, 1:] - pos[:, :-1], torch.ones(8, 49, dtype=torch.long))
    assert torch.equal(position_offsets(4, 10, 64, 1, 5), position_offsets(4, 10, 64, 1, 5))
    assert position_offsets(2, 64, 64, 0, 0).min() == 0  # no room: offset 0


def test_resume_is_exact_with_position_jitter(tmp_path):
    straight = pretrain(_config(tmp_path / "a", position_jitter=True), progress=False)
    pretrain(_config(tmp_path / "b", position_jitter=True), progress=False, until=2)
    resumed = pretrain(_config(tmp_path / "b", position_jitter=True), progress=False)
    plain = pretrain(_config(tmp_path / "c"), progress=False)
    m1, m2, m3 = (load_model(f)[0] for f in (straight, resumed, plain))
    for (n1, p1), (_, p2) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(p1, p2), n1
    assert not torch.equal(m1.transformer.wpe.weight, m3.transformer.wpe.weight)


def test_nope_model_keeps_a_zero_frozen_position_table(tmp_path):
    config = PretrainConfig(steps=3, batch_size=4, out_dir=str(tmp_path / "run"), eval_every=100,
                            position_embeddings=False)
    final = pretrain(config, resume=False, progress=False)
    model, _ = load_model(final)
    wpe = model.transformer.wpe.weight
    assert not wpe.requires_grad and float(wpe.abs().max()) == 0.0
    assert model.config.critkl_position_embeddings is False
    # the other weights did train
    fresh = build_model("tiny", 3, seed=0, position_embeddings=False)
    assert not torch.equal(fresh.transformer.h[0].attn.c_attn.weight, model.transformer.h[0].attn.c_attn.weight)
    # a model with positions is unaffected
    assert build_model("tiny", 3).transformer.wpe.weight.requires_grad


def test_heldout_metrics_are_logged(tmp_path):
    config = PretrainConfig(steps=2, batch_size=4, out_dir=str(tmp_path / "run"), eval_every=2, eval_size=3,
                            eval_heldout=True)
    pretrain(config, resume=False, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    last = records[-1]
    assert last["acc_heldout"] == 0.0 and last["logp_heldout"] < 0
    model, _ = load_model(tmp_path / "run" / "final")
    again = heldout_metrics(model, 3, 3)
    assert again["logp_heldout"] == pytest.approx(last["logp_heldout"], rel=1e-4)


def _scalar_tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def test_run_folder_has_config_log_and_tensorboard(tmp_path):
    out = tmp_path / "run"
    pretrain(_config(out, steps=2, tensorboard=True), progress=False)
    assert PretrainConfig.from_file(out / "config.json") == _config(out, steps=2, tensorboard=True)
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    tags = _scalar_tags(out / "tensorboard")
    assert {"loss", "lr", "grad_norm", "acc_in_dist"} <= tags and "step" not in tags
    plain = tmp_path / "plain"
    pretrain(_config(plain, steps=1), progress=False)
    assert not (plain / "tensorboard").exists()
