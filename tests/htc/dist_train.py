"""Run by tests/htc/test_distributed.py under torchrun: train on 2 CPU processes."""

import os
import sys


def main(out: str) -> None:
    import torch

    from htc.training import TrainConfig, Trainer
    from tests.htc.test_training import synthetic_corpus

    tax, train = synthetic_corpus(48, seed=1)
    _, dev = synthetic_corpus(24, seed=2)
    cfg = TrainConfig(loss="conditional_softmax", encoder="tfidf", epochs=3, batch_size=8,
                      hidden=32, tfidf_svd=16, lr_head=3e-3, checkpoint_every=4)
    trainer = Trainer(cfg, tax, out_dir=out, progress=False)
    trainer.fit(train, dev)
    rank = int(os.environ["RANK"])
    torch.save(trainer.model.state_dict(), f"{out}/weights_rank{rank}.pt")
    if rank == 0:
        trainer.save(f"{out}/model")


if __name__ == "__main__":
    main(sys.argv[1])
