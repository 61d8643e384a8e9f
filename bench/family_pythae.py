"""pythae's side of `bench/family.py`: train one pythae model in pythae's own venv, save its weights and timings.

Runs under the bench-only venv that holds pythae 0.1.2 (never latentlab's): it imports torch, numpy and pythae only.
Reads the same .npz as latentlab's side (uint8 `x`, `x_test`), trains with pythae's `TrainingPipeline` and its
default MLP networks (784-512-z), and writes into --out:
- weights.npz: the model's state dict as plain arrays (numpy, no pickles);
- probe.npz: the encoder's and decoder's outputs on the first 64 test images (the weight mapping is checked on
  them by latentlab's side);
- timing.json: seconds from interpreter start to imports done, of `pipeline(...)` (the training loop with pythae's
  per-epoch evaluation and checkpointing), and in all.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

# latentlab's deterministic member is WAE-MMD, so pythae's WAE_MMD is its match (its RAE_L2 needs another trainer).
MODELS = ("vae", "beta-vae", "iwae", "vamp", "vqvae", "wae")


def build(name: str, latent: int, options: dict) -> torch.nn.Module:
    """The pythae model `name` with its default MLP networks on 1x28x28 images, Bernoulli loss where it has one."""
    from pythae import models as pm

    shape = (1, 28, 28)
    if name in ("vae", "beta-vae"):
        # pythae's BetaVAE at beta 1 is its VAE; both with the Bernoulli (BCE) loss latentlab's VAE uses.
        return pm.BetaVAE(pm.BetaVAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce",
                                           beta=float(options.get("beta", 1.0))))
    if name == "iwae":
        return pm.IWAE(pm.IWAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce",
                                     number_samples=int(options.get("k", 5))))
    if name == "vamp":
        return pm.VAMP(pm.VAMPConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce",
                                     number_components=int(options.get("components", 500))))
    if name == "vqvae":  # pythae's VQ-VAE and WAE have only a squared-error reconstruction loss
        return pm.VQVAE(pm.VQVAEConfig(input_dim=shape, latent_dim=latent,
                                       num_embeddings=int(options.get("codebook", 512))))
    if name == "wae":
        return pm.WAE_MMD(pm.WAE_MMD_Config(input_dim=shape, latent_dim=latent, kernel_choice="imq",
                                            reg_weight=float(options.get("mmd_weight", 10.0))))
    raise SystemExit(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--latent", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help=".npz with uint8 x (N, 28, 28) and x_test")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--options", default="{}", help="JSON: beta, k, components, codebook, mmd_weight")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    imported = time.perf_counter()
    logging.getLogger("pythae").setLevel(logging.WARNING)
    with np.load(args.data, allow_pickle=False) as z:
        x_train = (z["x"].astype(np.float32) / 255.0)[:, None]
        x_test = (z["x_test"].astype(np.float32) / 255.0)[:, None]
    torch.manual_seed(args.seed)
    model = build(args.model, args.latent, json.loads(args.options))
    config = BaseTrainerConfig(output_dir=str(args.out / "pythae"), num_epochs=args.epochs, learning_rate=args.lr,
                               per_device_train_batch_size=args.batch, per_device_eval_batch_size=args.batch,
                               seed=args.seed, no_cuda=True)
    pipeline = TrainingPipeline(training_config=config, model=model)
    t = time.perf_counter()
    pipeline(train_data=x_train, eval_data=x_test)
    train_s = time.perf_counter() - t
    model.eval()  # trained in place: its last epoch's weights, as latentlab's side keeps (not pythae's best-eval copy)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "weights.npz", **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    with torch.no_grad():
        probe = torch.from_numpy(x_test[:64])
        enc = model.encoder(probe)
        outs = {"x": probe.numpy(), "embedding": enc.embedding.numpy()}
        if "log_covariance" in enc:  # ModelOutput is an OrderedDict
            outs["log_covariance"] = enc.log_covariance.numpy()
        outs["reconstruction"] = model.decoder(enc.embedding).reconstruction.numpy()
    np.savez(args.out / "probe.npz", **outs)
    timing = {"import_s": imported - STARTED, "train_s": train_s, "in_process_s": time.perf_counter() - STARTED,
              "pythae_model": type(model).__name__, "torch": torch.__version__, "threads": torch.get_num_threads()}
    (args.out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
