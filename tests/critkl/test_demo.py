"""The RL part of the demo: runs, reads its runs back, and plots every panel with axis labels."""

import warnings

from critkl import demo
from critkl.study import report

TINY = {"episodes": 32, "episodes_per_collect": 16, "minibatch_episodes": 8, "test_episodes": 8,
        "in_dist_episodes": 4, "eval_every": 1, "sampled_test_episodes": 4}


def test_rl_demo_plots_labelled_panels_and_summarizes(tmp_path, monkeypatch, capsys):
    seen = []
    save = report.save_figure

    def spy(fig, path, title):
        seen.append([(ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) for ax in fig.axes])
        save(fig, path, title)

    monkeypatch.setattr(report, "save_figure", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = demo.rl_demo(tmp_path, seeds=2, overrides=TINY)
    assert files[0] == tmp_path / "accuracy.png" and files[0].stat().st_size > 10_000
    assert len(files) == 3 and all(f.exists() for f in files)
    (panels,) = seen
    assert len(panels) == 3  # sampled accuracy, p(gold), in-distribution accuracy
    assert all(x and y and t for x, y, t in panels), panels
    out = capsys.readouterr().out
    assert "mean over seeds" in out and "accuracy.png" in out
    # what runs and roughly how long, then progress followed from the runs' logs (plain lines: not a terminal)
    assert "2 runs (0 already done) on 2 process(es)" in out and "64 episodes to train, about" in out
    assert "RL (2 runs): 64/64 episodes (100%)" in out
    assert out.count("done: ") == 2 and "held-out accuracy" in out
    before = files[1].read_text()
    demo.rl_demo(tmp_path, seeds=2, overrides=TINY)  # finished runs are read back, not retrained
    assert files[1].read_text() == before

