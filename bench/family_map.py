"""pythae's default MLP networks (784-512-z) mapped onto latentlab's modules of the same shape, and the check that
the mapped module gives pythae's own outputs.

pythae's state dict (its names) -> latentlab's:
- encoder.layers.0.0 (784 -> 512, ReLU)          -> encoder.1.0
- encoder.embedding, encoder.log_var (512 -> z)  -> heads (one layer, [mean; log-variance]) for the VAE kinds,
                                                    head for the WAE and the VQ-VAE
- decoder.layers.0.0 (z -> 512, ReLU)            -> decoder.0
- decoder.layers.1.0 (512 -> 784, then sigmoid)  -> decoder.2 (latentlab keeps logits; `decode` applies the sigmoid)
- VAMP pseudo_inputs.0 (Linear K -> 784 on the identity, then hardtanh(0, 1)): pseudo-input k is row k of
  weight.T + bias, which latentlab's VampPrior stores as `pseudo` (K, 1, 28, 28) under the same hardtanh
- VQVAE quantizer.embeddings (codebook, 1)       -> codebook (latentlab's code_dim 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

GAUSSIAN_HEADS = ("vae", "iwae", "vamp")
TOLERANCE = 1e-4  # float32 sums in another order: ~1e-6 seen; a wrong mapping is off by O(1)


def pythae_to_latentlab(kind: str, state: dict[str, np.ndarray], image_shape: tuple[int, ...]) -> dict[str, Tensor]:
    """latentlab's state dict for model `kind` from pythae's default-MLP `state` (name -> array)."""
    def t(name: str) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(state[name]))

    out = {"encoder.1.0.weight": t("encoder.layers.0.0.weight"), "encoder.1.0.bias": t("encoder.layers.0.0.bias"),
           "decoder.0.weight": t("decoder.layers.0.0.weight"), "decoder.0.bias": t("decoder.layers.0.0.bias"),
           "decoder.2.weight": t("decoder.layers.1.0.weight"), "decoder.2.bias": t("decoder.layers.1.0.bias")}
    if kind in GAUSSIAN_HEADS:
        out["heads.weight"] = torch.cat([t("encoder.embedding.weight"), t("encoder.log_var.weight")])
        out["heads.bias"] = torch.cat([t("encoder.embedding.bias"), t("encoder.log_var.bias")])
    else:
        out["head.weight"], out["head.bias"] = t("encoder.embedding.weight"), t("encoder.embedding.bias")
    if kind == "vamp":
        w, b = t("pseudo_inputs.0.weight"), t("pseudo_inputs.0.bias")  # (784, K), (784,)
        out["pseudo"] = (w.T + b).reshape(w.shape[1], *image_shape).contiguous()
    if kind == "vqvae":
        out["codebook"] = t("quantizer.embeddings.weight")
    return out


def load_pythae(model_cfg, weights: Path):
    """A latentlab model built for `model_cfg` carrying pythae's trained weights from `weights` (.npz). Raises
    ValueError when a parameter is missing or left over (the networks do not match)."""
    from latentlab.models import build_model

    model = build_model(model_cfg)
    with np.load(weights, allow_pickle=False) as z:
        state = pythae_to_latentlab(model_cfg.kind, {k: z[k] for k in z.files}, tuple(model_cfg.image_shape))
    missing, unexpected = model.load_state_dict(state, strict=False)
    params = {name for name, _ in model.named_parameters()}
    if unexpected or params & set(missing):
        raise ValueError(f"pythae's weights do not fit latentlab's {model_cfg.kind}: missing {sorted(missing)}, "
                         f"unexpected {sorted(unexpected)}")
    if hasattr(model, "initialised"):  # a VQ-VAE's codebook needs no data-driven start: it is trained already
        model.initialised.fill_(True)
    return model.eval()


@torch.no_grad()
def latentlab_outputs(model, x: Tensor) -> dict[str, Tensor]:
    """What pythae's probe holds, from latentlab's module: the encoder's outputs and the decoded embedding."""
    if hasattr(model, "posterior"):
        mu, logvar = model.posterior(x)
        out = {"embedding": mu, "log_covariance": logvar}
    else:
        mu = model.encode_continuous(x) if hasattr(model, "encode_continuous") else model.encode(x)
        out = {"embedding": mu}
    out["reconstruction"] = model.decode(mu).reshape(len(x), -1)
    return out


def check_probe(model, probe: Path) -> float:
    """The largest absolute difference between latentlab's outputs and pythae's on the probe images; ValueError
    above `TOLERANCE` (the mapping is wrong)."""
    with np.load(probe, allow_pickle=False) as z:
        want = {k: z[k] for k in z.files}
    got = latentlab_outputs(model, torch.from_numpy(want.pop("x")))
    diffs = {k: float(np.abs(got[k].numpy().reshape(v.shape) - v).max()) for k, v in want.items()}
    worst = max(diffs.values())
    if worst > TOLERANCE:
        raise ValueError(f"the weight mapping does not reproduce pythae's outputs: max |difference| {diffs}")
    return worst
