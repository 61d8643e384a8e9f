"""Vector-quantised VAE (van den Oord, Vinyals and Kavukcuoglu, NeurIPS 2017), dense or conv trunk.

The encoder's output (B, latent_dim) is cut into latent_dim / code_dim vectors of code_dim values; each is replaced
by its nearest codebook entry. Gradients pass the quantiser straight through (the decoder's gradient is copied to
the encoder's output); each codebook entry follows an exponential moving average of the z_e assigned to it (the
paper's appendix; Razavi et al. 2019), entries left unused move to encoder outputs, and the encoder is held near its
codes by the commitment loss, beta ||z_e - sg[e]||^2 with beta = `commitment` (0.25 in the paper).

Chosen here: a dense (MLP) trunk by default, which suits 28x28 images, with a few code vectors per image rather than
the paper's spatial grid. Generation draws each code position independently from how often each entry was used in
training (`code_counts`, a running average over the last few hundred training batches). That is not the paper's
generator: a learned autoregressive prior over the codes (a PixelCNN) is what makes VQ-VAE samples good, and this is
not one, so expect samples that mix parts of digits. A VQ-VAE has no posterior density and no likelihood bound.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlab.config import ModelConfig
from latentlab.models.base import LatentModel
from latentlab.models.layers import channels_last_, trunks

# Per training step, the running code counts keep this share of their past: ~300 steps of memory, about the last
# epoch of a 50,000-image set at batch 128, so the counts describe the trained encoder, not its first steps.
COUNT_DECAY = 0.997
# Every RESTART_EVERY training steps, entries picked less than DEAD_SHARE of a uniform share (by the running counts)
# move to encoder outputs of the batch. Without it the dense VQ-VAE collapsed to 2 of 16 entries within 50 steps on
# the tests' bar images and its encoder outputs ran away from them (commitment loss 2 -> 338 in 3 epochs).
RESTART_EVERY = 10
DEAD_SHARE = 0.03
# The codebook learns by exponential moving averages of the encoder outputs assigned to each entry (van den Oord et
# al. 2017, appendix; Razavi et al. 2019), not by the optimizer; decay 0.99 as in both papers. Measured on the
# family's member (784-512-16, 8 codes of 2 values, 512 entries, mnist-sample, 5 epochs, seeds 0 and 1): test
# reconstruction 104.7 / 106.6 nats by the gradient of ||sg[z_e] - e||^2, 93.7 / 94.4 by EMA; entries used 88% /
# 84% -> 96% / 97%. A commitment of 0.1 instead of 0.25 moved neither by more than a nat or 2 points.
EMA_DECAY = 0.99


class VQVAE(LatentModel):
    """Images -> z_e (B, latent_dim) -> nearest codebook entries z_q (the code) -> logits. `loss` terms (batch
    means): "recon" nats per image, "codebook" (reported, not trained on) and "commit" squared distances,
    "perplexity" exp(entropy) of the codes used in the batch (the number of entries in effective use) and "usage"
    the share of entries used. `restarts` counts the entries moved to encoder outputs in this process.

    Parameters
    ----------
    hidden : tuple of int, default (512,)
        Encoder widths (dense) or channels (conv); the decoder mirrors them.
    latent_dim : int, default 16
        Size of the encoder's output, cut into latent_dim // code_dim code vectors (positions).
    encoder : str, default "dense"
        "dense" or "conv".
    codebook_size : int, default 512
        Number of codebook entries.
    code_dim : int, default 2
        Size of each code vector and codebook entry.
    commitment : float, default 0.25
        Weight beta of the commitment loss (0.25 in the paper).
    image_shape : tuple of int, default (1, 28, 28)
        (channels, height, width).
    likelihood : str, default "bernoulli"
        "bernoulli" or "gaussian".
    """

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 16, encoder: str = "dense",
                 codebook_size: int = 512, code_dim: int = 2, commitment: float = 0.25,
                 image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli") -> None:
        super().__init__(latent_dim, image_shape, likelihood)
        self.encoder, width, self.decoder = trunks(hidden, latent_dim, encoder, image_shape)
        self.head = nn.Linear(width, latent_dim)
        self.codebook_size, self.code_dim, self.commitment = codebook_size, code_dim, commitment
        self.positions = latent_dim // code_dim
        self.codebook = nn.Parameter(torch.empty(codebook_size, code_dim).uniform_(-1 / codebook_size,
                                                                                   1 / codebook_size))
        self.register_buffer("code_counts", torch.zeros(self.positions, codebook_size))
        # 0 until the first training batch sets the codebook to encoder outputs: entries far from every z_e would
        # never be picked and never learn (a dead codebook).
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.codebook.requires_grad_(False)  # moved by the EMA update, not the optimizer
        # The moving averages of the EMA update (cluster sizes, sums of the assigned z_e): not saved, rebuilt from
        # the codebook and the code counts at the first training batch, so runs saved before them still load.
        self.register_buffer("ema_size", torch.zeros(codebook_size), persistent=False)
        self.register_buffer("ema_sum", torch.zeros(codebook_size, code_dim), persistent=False)
        # Host-side, so that the hot path does not wait on the device; `restarts` counts the entries moved to z_e.
        self._steps, self._ready, self.restarts = 0, False, 0
        channels_last_(self)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> VQVAE:
        """The model a config describes (the `MODELS` entry "vqvae").

        Parameters
        ----------
        cfg : ModelConfig
            Uses hidden, latent_dim, encoder, codebook_size, code_dim, commitment, image_shape and likelihood.

        Returns
        -------
        VQVAE
            Freshly initialised; the codebook is set to encoder outputs at the first training batch.
        """
        return cls(hidden=cfg.hidden, latent_dim=cfg.latent_dim, encoder=cfg.encoder, codebook_size=cfg.codebook_size,
                   code_dim=cfg.code_dim, commitment=cfg.commitment, image_shape=cfg.image_shape,
                   likelihood=cfg.likelihood)

    @property
    def loss_units(self) -> str:
        """The unit of the loss.

        Returns
        -------
        str
            "nats per image".
        """
        return "nats per image"

    def encode_continuous(self, x: Tensor) -> Tensor:
        """z_e: the encoder's output before quantisation.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            z_e, (B, latent_dim).
        """
        return self.head(self.encoder(x))

    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Each code vector's nearest codebook entry (squared Euclidean distance).

        Parameters
        ----------
        z_e : torch.Tensor
            Encoder outputs (B, latent_dim).

        Returns
        -------
        z_q : torch.Tensor
            The quantised codes (B, latent_dim), in the dtype of `z_e`.
        indices : torch.Tensor
            The codebook entries picked, int64 (B, positions).
        """
        flat = z_e.reshape(-1, self.code_dim)
        book = self.codebook.to(flat.dtype)
        with torch.no_grad():  # only the argmin is used: no graph, and the codebook may change in place after it
            dist = flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ book.T + book.pow(2).sum(1)
            idx = dist.argmin(1)
        return book[idx].view_as(z_e), idx.view(z_e.shape[0], self.positions)

    def encode(self, x: Tensor) -> Tensor:
        """The quantised code z_q: codebook entries, side by side.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            z_q, (B, latent_dim).
        """
        return self.quantize(self.encode_continuous(x))[0]

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Codes whose entries are drawn per position from their use in training (uniformly before any training).

        Parameters
        ----------
        n : int
            Number of codes.
        generator : torch.Generator, optional
            Seeded for reproducible draws.

        Returns
        -------
        torch.Tensor
            Codes (n, latent_dim), codebook entries side by side (detached from the codebook).
        """
        probs = self.code_counts.float() + 1e-12
        idx = torch.multinomial(probs / probs.sum(1, keepdim=True), n, replacement=True, generator=generator)
        return self.codebook.detach()[idx.T].reshape(n, self.latent_dim)

    @torch.no_grad()
    def _restart(self, z_e: Tensor) -> None:
        """Move the first time all entries, later the dead ones, to encoder outputs z_e of this batch (plus a little
        noise, so that two never coincide); counts the training steps."""
        rows = z_e.reshape(-1, self.code_dim)
        dead = None
        if not self._ready:
            self._ready = True
            # A resumed run keeps its codebook; its moving averages restart from the saved counts.
            self.ema_size.copy_(self.code_counts.sum(0).clamp_min(1.0 / self.codebook_size))
            if not bool(self.initialised):
                dead = torch.ones(self.codebook_size, dtype=torch.bool, device=rows.device)
                self.initialised.fill_(True)
            self.ema_sum.copy_(self.codebook * self.ema_size[:, None])
        elif self._steps % RESTART_EVERY == 0:
            use = self.code_counts.sum(0)
            dead = use < DEAD_SHARE * use.sum() / self.codebook_size
        if dead is not None and bool(dead.any()):
            pick = torch.randint(len(rows), (int(dead.sum()),), device=rows.device)
            fresh = (rows[pick] + 1e-3 * torch.randn_like(rows[pick])).to(self.codebook.dtype)
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh * self.ema_size[dead, None]
            self.restarts += int(dead.sum())
        self._steps += 1

    @torch.no_grad()
    def _ema_update(self, z_e: Tensor, idx: Tensor) -> None:
        """Move each entry picked in this batch towards the mean of its z_e rows: the moving averages of the
        cluster sizes and of the row sums, decayed by EMA_DECAY; the entries nobody picked keep their place."""
        rows, flat = z_e.reshape(-1, self.code_dim).float(), idx.reshape(-1)
        size = torch.zeros_like(self.ema_size).index_add_(0, flat, torch.ones_like(flat, dtype=self.ema_size.dtype))
        sums = torch.zeros_like(self.ema_sum).index_add_(0, flat, rows)
        d = EMA_DECAY
        self.ema_size.mul_(d).add_(size, alpha=1 - d)
        self.ema_sum.mul_(d).add_(sums, alpha=1 - d)
        live = size > 0
        self.codebook[live] = (self.ema_sum[live] / self.ema_size[live, None]).to(self.codebook.dtype)

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        target = x if target is None else target
        z_e = self.encode_continuous(x)
        if self.training:
            self._restart(z_e.detach())
        z_q, idx = self.quantize(z_e)
        z = z_e + (z_q - z_e).detach()  # straight through: forward z_q, backward into z_e
        recon = self.p_x.batch_sum(self.decode_logits(z), target) / len(x)
        codebook = (z_q - z_e.detach()).pow(2).sum(1).mean()
        commit = (z_e - z_q.detach()).pow(2).sum(1).mean()
        if self.training:
            self._ema_update(z_e.detach(), idx)
        with torch.no_grad():
            counts = torch.zeros_like(self.code_counts).scatter_add_(
                1, idx.T, torch.ones(idx.T.shape, device=idx.device, dtype=self.code_counts.dtype))
            if self.training:
                self.code_counts.mul_(COUNT_DECAY).add_(counts, alpha=1 - COUNT_DECAY)
            p = counts.sum(0) / counts.sum()
            perplexity = torch.exp(-(p * torch.log(p + 1e-12)).sum())
            usage = (p > 0).float().mean()
        # The codebook term is reported, not trained on: the EMA update moves the codebook.
        return {"loss": recon + self.commitment * commit, "recon": recon, "codebook": codebook,
                "commit": commit, "perplexity": perplexity, "usage": usage}
