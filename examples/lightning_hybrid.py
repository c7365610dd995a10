"""A hybrid network in PyTorch Lightning: a ``LightningModule`` holding a :class:`bridge.QuantumLayer`, trained by
``lightning.Trainer`` on the CPU, in one process or with ``strategy="ddp"``, checkpointed and resumed by Lightning.

    pip install "qml-bridge[lightning]"
    python examples/lightning_hybrid.py OUT                   # one process, profile from $BRIDGE_DEVICE, else "aer"
    python examples/lightning_hybrid.py OUT --devices 2       # DDP on 2 CPU processes (Lightning starts them)
    python examples/lightning_hybrid.py OUT --epochs 2 --resume   # continue OUT/last.ckpt

MNIST 0 vs 1 from the embedded subset; the textbook trunk → tanh-bounded angle → 1-qubit H·RY circuit.
The data are not shuffled, so that one process with batch 8 and two with batch 4 each take the same steps (the
same weights to 1e-6: ``tests/app/test_lightning.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, DistributedSampler

from bridge.app.data import load_split
from bridge.app.models import TextbookHybridNet


class HybridModule(L.LightningModule):
    """The textbook hybrid network (``bridge.app.models.TextbookHybridNet``) as a ``LightningModule``."""

    def __init__(self, profile: str | None = None, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(0)
        self.net = TextbookHybridNet(profile)
        self.losses: list[float] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        images, labels = batch
        loss = torch.nn.functional.nll_loss(self(images), labels)
        self.log("train_loss", loss, sync_dist=True, batch_size=len(labels))
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def loader(batch_size: int, rank: int = 0, world: int = 1, per_class: int = 16) -> DataLoader:
    """The first ``per_class`` training images of each digit, in dataset order; under DDP each rank takes every
    ``world``-th image from ``rank`` (Lightning's own distributed sampler would shuffle them)."""
    images = load_split("MNIST", train=True, classes=(0, 1), per_class=per_class)
    shard = DistributedSampler(images, num_replicas=world, rank=rank, shuffle=False)
    return DataLoader(images, batch_size=batch_size, sampler=shard)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=1, help="CPU processes (2 or more: strategy='ddp')")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    args = parser.parse_args(argv)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs,
        default_root_dir=args.out,
        callbacks=[ModelCheckpoint(dirpath=args.out, save_last=True)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # ours: in order (see loader)
    )
    module = HybridModule()
    data = loader(args.batch_size, trainer.global_rank, trainer.world_size)
    trainer.fit(module, data, ckpt_path=args.out / "last.ckpt" if args.resume else None)
    if trainer.is_global_zero:
        weights = {k: v.tolist() for k, v in module.net.state_dict().items()}
        (args.out / f"weights-{args.epochs}.json").write_text(json.dumps({"losses": module.losses, "weights": weights}))


if __name__ == "__main__":
    main()
