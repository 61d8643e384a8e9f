"""Vector-quantised VAE (van den Oord, Vinyals and Kavukcuoglu, NeurIPS 2017), dense or conv trunk.

The encoder's output (B, latent_dim) is cut into latent_dim / code_dim vectors of code_dim values; each is replaced
by its nearest codebook entry. Gradients pass the quantiser straight through (the decoder's gradient is copied to
the encoder's output); the codebook learns from ||sg[z_e] - e||^2 and the encoder is held near its codes by the
commitment loss, beta ||z_e - sg[e]||^2 with beta = `commitment` (0.25 in the paper).

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


class VQVAE(LatentModel):
    """Images -> z_e (B, latent_dim) -> nearest codebook entries z_q (the code) -> logits. `loss` terms (batch
    means): "recon" nats per image, "codebook" and "commit" squared distances, "perplexity" exp(entropy) of the
    codes used in the batch (the number of entries in effective use) and "usage" the share of entries used.

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
        self._steps, self._ready = 0, False  # host-side, so that the hot path does not wait on the device
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
            if not bool(self.initialised):  # a resumed run keeps its codebook
                dead = torch.ones(self.codebook_size, dtype=torch.bool, device=rows.device)
                self.initialised.fill_(True)
        elif self._steps % RESTART_EVERY == 0:
            use = self.code_counts.sum(0)
            dead = use < DEAD_SHARE * use.sum() / self.codebook_size
        if dead is not None and bool(dead.any()):
            pick = torch.randint(len(rows), (int(dead.sum()),), device=rows.device)
            self.codebook[dead] = (rows[pick] + 1e-3 * torch.randn_like(rows[pick])).to(self.codebook.dtype)
        self._steps += 1

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
        with torch.no_grad():
            counts = torch.zeros_like(self.code_counts).scatter_add_(
                1, idx.T, torch.ones(idx.T.shape, device=idx.device, dtype=self.code_counts.dtype))
            if self.training:
                self.code_counts.mul_(COUNT_DECAY).add_(counts, alpha=1 - COUNT_DECAY)
            p = counts.sum(0) / counts.sum()
            perplexity = torch.exp(-(p * torch.log(p + 1e-12)).sum())
            usage = (p > 0).float().mean()
        return {"loss": recon + codebook + self.commitment * commit, "recon": recon, "codebook": codebook,
                "commit": commit, "perplexity": perplexity, "usage": usage}
