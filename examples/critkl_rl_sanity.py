"""RL engine sanity check: can RL sharpen a policy on problems it already solves half the time?

tiny-n3 samples 3-digit problems correctly 57% of the time at T=1.5 (1.6% at T=2). Reward-driven
training should push that up. The script treats tiny-n3 as N=2 (``pretrained_digits=2``, so 3-digit
episodes are the trainer's "N+1"), runs ``--collects`` RL iterations of 32 episodes with any RLConfig
overrides, and prints the train reward and entropy per collect and per window of 10 collects.
Results and their reading: docs/research-notes.md, section 3.

    python examples/critkl_rl_sanity.py --lr 1e-5 --kl prioritized --collects 70
    python examples/critkl_rl_sanity.py --lr 1e-4 --kl none --gae-lambda 1.0 --collects 10
    python examples/critkl_rl_sanity.py --lr 1e-2 --kl none --trainable ln_f --collects 30   # rises
    python examples/critkl_rl_sanity.py --lr 1e-4 --kl none --entropy-coef 0 --value-coef 0 --collects 15
    python examples/critkl_rl_sanity.py --lr 1e-4 --kl none --advantage success --entropy-coef 0 --value-coef 0 --collects 10
    python examples/critkl_rl_sanity.py --lr 0.1 --kl none --optimizer sgd --collects 15
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from critkl.rl import RLConfig, Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collects", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--kl", default="prioritized")
    ap.add_argument("--alpha", type=float, default=5.0)
    ap.add_argument("--gae-lambda", type=float, default=0.95)
    ap.add_argument("--minibatch-episodes", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=1.5)
    ap.add_argument("--normalize-advantages", action="store_true")
    ap.add_argument("--adam-eps", type=float, default=1e-8)
    ap.add_argument("--trainable", default="", help="regex of LM parameters to train (default: all)")
    ap.add_argument("--entropy-coef", type=float, default=None)
    ap.add_argument("--value-coef", type=float, default=0.1)
    ap.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                    help="sgd replaces the trainer's Adam by plain SGD at --lr (a control)")
    ap.add_argument("--advantage", choices=("a2c", "success"), default="a2c",
                    help="success: +1 on every token of a solved episode, 0 otherwise (expert iteration)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RLConfig(model="tiny-n3", pretrained_digits=2, train_digits=3, variant="paper", kl=args.kl,
                       alpha=args.alpha if args.kl != "none" else 0.0, lr=args.lr,
                       gae_lambda=args.gae_lambda, policy_temperature=args.temperature,
                       episodes_per_collect=32, minibatch_episodes=args.minibatch_episodes,
                       normalize_advantages=args.normalize_advantages, adam_eps=args.adam_eps, trainable=args.trainable,
                       threads=args.threads, entropy_coef=args.entropy_coef, value_coef=args.value_coef,
                       seed=args.seed, out_dir=f"{tmp}/run").resolved()
        trainer = Trainer(cfg)
        if args.optimizer == "sgd":
            trainer.optimizer = torch.optim.SGD([p for p in trainer.policy.parameters() if p.requires_grad],
                                                lr=args.lr)
        if args.advantage == "success":
            prepare = trainer.prepare

            def success_advantage(ro):
                prep = prepare(ro)
                prep["adv"] = ro.correct.float()[:, None] * ro.action_mask
                return prep

            trainer.prepare = success_advantage
        rewards = []
        for i in range(args.collects):
            rec = trainer.step()
            rewards.append(rec["train_reward"])
            print(f"collect {i:3d}  reward {rec['train_reward']:.3f}  entropy {rec['entropy']:.3f}", flush=True)
    windows = [float(np.mean(rewards[i:i + 10])) for i in range(0, len(rewards), 10)]
    print("mean reward per 10 collects:", " ".join(f"{w:.3f}" for w in windows))


if __name__ == "__main__":
    main()
