"""Conditional VAE (Sohn, Lee and Yan, NeurIPS 2015): q(z|x, c) and p(x|z, c) with the class c as a one-hot, and
the prior p(z) = N(0, I) shared by all classes, so a code is a style and the class says what to draw in it.

The one extension of the model contract: `conditional = True`, and `loss`, `per_image`, `encode`, `decode` take the
labels `y` (B,) int64. `fit` passes them (it refuses to train without). Where no labels are given, as in the
detector, the figures of one image and `detect`, the model infers the class: the one whose ELBO at the posterior
mean is highest (`classify`), and every term is that class's; its likelihood sums over the classes instead,
log p(x) = log (1/C) sum_c p(x|c). `decode` without labels draws class 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.errors import TrainingError
from latentlab.models.layers import channels_last_, mlp, trunks
from latentlab.models.vae import IWAE_DECODES, VAE


class CVAE(VAE):
    """A dense or conv `VAE` conditioned on `n_classes` classes: the one-hot joins the image at the encoder's input
    (dense) or its features (conv), and the code at the decoder's input.

    Parameters
    ----------
    hidden, latent_dim, beta, image_shape, likelihood
        As for `VAE`.
    encoder : str, default "dense"
        "dense" (the one-hot joins the pixels) or "conv" (it joins the trunk's features).
    n_classes : int, default 10
        Number of classes; labels are in [0, n_classes - 1].
    """

    conditional = True

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 beta: float = 1.0, image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli",
                 n_classes: int = 10) -> None:
        nn.Module.__init__(self)
        super(VAE, self).__init__(latent_dim, image_shape, likelihood)
        self.beta, self.n_classes, self.at_input = beta, n_classes, encoder == "dense"
        if self.at_input:
            wide = math.prod(image_shape) + n_classes
            self.encoder = nn.Sequential(nn.Flatten(), mlp([wide, *hidden], last_activation=True))
            width = hidden[-1] if hidden else wide
            self.decoder = mlp([latent_dim + n_classes, *reversed(hidden), math.prod(image_shape)],
                               last_activation=False)
        else:
            self.encoder, width, self.decoder = trunks(hidden, latent_dim + n_classes, encoder, image_shape)
            width += n_classes
        self.heads = nn.Linear(width, 2 * latent_dim)
        channels_last_(self)

    def one_hot(self, y: Tensor | int, n: int, device: torch.device) -> Tensor:
        """One-hot encodings of class labels (class weights are passed through).

        Parameters
        ----------
        y : torch.Tensor or int
            Labels, int64 (n,), or one int for all `n`; or class weights, float (n, n_classes), used as they are
            (a path between two classes: `analysis.sampling.interpolate`).
        n : int
            Number of rows (used when `y` is an int).
        device : torch.device
            Device of the result.

        Returns
        -------
        torch.Tensor
            One-hots, float32 (n, n_classes).

        Raises
        ------
        ValueError
            A label outside [0, n_classes - 1] (checked eagerly only, not while compiling or exporting).
        """
        if isinstance(y, Tensor) and y.is_floating_point() and y.ndim == 2:
            if y.shape[1] != self.n_classes:
                raise ValueError(f"class weights must have {self.n_classes} columns for this model (model.n_classes="
                                 f"{self.n_classes}), got shape {tuple(y.shape)}")
            return y.to(device).float()
        y = torch.full((n,), int(y), device=device) if isinstance(y, int) else y.to(device).long()
        # Checked eagerly only: torch.export (ONNX) cannot branch on values; the comparison below needs no check.
        # (Batch sizes here are x.shape[0], not len(x): len() would fix the exported batch size.)
        tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        if not tracing and len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ValueError(f"labels must be in [0, {self.n_classes - 1}] for this model (model.n_classes="
                             f"{self.n_classes}), got {int(y.min())}..{int(y.max())}")
        return (y[:, None] == torch.arange(self.n_classes, device=device)).float()

    def posterior(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The posterior q(z|x, y).

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        y : torch.Tensor, optional
            Labels, int64 (B,); without them the class is inferred (`classify`).

        Returns
        -------
        mu, logvar : torch.Tensor
            Mean and log-variance, each float32 (B, latent_dim).
        """
        y = self.classify(x) if y is None else y
        c = self.one_hot(y, x.shape[0], x.device).to(x.dtype)
        # Dense: the one-hot joins the pixels; conv: it joins the trunk's features (a map has no place for it).
        feats = self.encoder(torch.cat([x.flatten(1), c], 1)) if self.at_input else torch.cat([self.encoder(x), c], 1)
        mu, logvar = self.heads(feats).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor, y: Tensor | int | None = None) -> Tensor:
        """Decoder logits at codes `z` for classes `y`.

        Parameters
        ----------
        z : torch.Tensor
            Codes, float32 (B, latent_dim).
        y : torch.Tensor or int, optional
            Labels, int64 (B,), or one int for all (default class 0), or class weights float (B, n_classes).

        Returns
        -------
        torch.Tensor
            Logits, float32 (B, C, H, W).
        """
        c = self.one_hot(0 if y is None else y, z.shape[0], z.device).to(z.dtype)
        return self.decoder(torch.cat([z, c], 1)).view(-1, *self.image_shape)

    def decode(self, z: Tensor, y: Tensor | int | None = None) -> Tensor:
        """Images at latent positions for classes `y`.

        Parameters
        ----------
        z : torch.Tensor
            Codes, float32 (B, latent_dim).
        y : torch.Tensor or int, optional
            Labels, int64 (B,), or one int for all (default class 0), or class weights float (B, n_classes).

        Returns
        -------
        torch.Tensor
            Images, the sigmoid of `decode_logits`, float32 (B, C, H, W) in [0, 1].
        """
        return torch.sigmoid(self.decode_logits(z, y))

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The posterior mean of q(z|x, y): the point in latent space that stands for each image.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        y : torch.Tensor, optional
            Labels, int64 (B,); without them the class is inferred (`classify`).

        Returns
        -------
        torch.Tensor
            Codes, float32 (B, latent_dim).
        """
        return self.posterior(x, y)[0]

    def forward(self, x: Tensor) -> Tensor:
        y = self.classify(x)
        return self.decode(self.posterior(x, y)[0], y)

    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int = 0) -> Tensor:
        """Images of class(es) `y` decoded from draws of the prior N(0, I).

        Parameters
        ----------
        n : int
            Number of images.
        generator : torch.Generator, optional
            Seeded for reproducible draws.
        y : torch.Tensor or int, default 0
            Labels, int64 (n,), or one int for all.

        Returns
        -------
        torch.Tensor
            Images, (n, C, H, W) in [0, 1], on the model's device and dtype.
        """
        return self.decode(self.prior_codes(n, generator), y)

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """The class whose ELBO at the posterior mean (no sampling) is highest for each image. Runs without
        gradients.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            Classes, int64 (B,).
        """
        scores = []
        for c in range(self.n_classes):
            y = torch.full((x.shape[0],), c, device=x.device, dtype=torch.long)
            mu, logvar = self.posterior(x, y)
            scores.append(self.p_x.per_image(self.decode_logits(mu, y), x) + self._kl(mu, logvar))
        return torch.stack(scores, 1).argmin(1)

    def per_image(self, x: Tensor, generator: torch.Generator | None = None,
                  y: Tensor | None = None) -> dict[str, Tensor]:
        """The VAE's per-image terms, for classes `y` or, without them, for the class `classify` infers.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        generator : torch.Generator, optional
            When given, also draws z ~ q(z|x, y) once per image, reproducibly for a seeded generator.
        y : torch.Tensor, optional
            Labels, int64 (B,).

        Returns
        -------
        dict of str to torch.Tensor
            "code" (B, latent_dim), "nll", "bce" (nats per image), "mse" (per pixel) and "kl" (KL(q(z|x, y) || p(z))
            in closed form, nats), each (B,); with a generator also "recon" (-log p(x|z, y)) and "neg_elbo" = recon +
            kl (nats per image).
        """
        return self._elbo_terms(x, generator, self.classify(x) if y is None else y.to(x.device).long())

    def loss(self, x: Tensor, target: Tensor | None = None, y: Tensor | None = None) -> dict[str, Tensor]:
        """The training loss: the negative ELBO (for beta = 1) at one draw z ~ q(z|x, y) per image.

        Parameters
        ----------
        x : torch.Tensor
            Input images, float32 (B, C, H, W) in [0, 1].
        target : torch.Tensor, optional
            Images to reconstruct, same shape (default `x`).
        y : torch.Tensor
            Labels, int64 (B,); required (None raises).

        Returns
        -------
        dict of str to torch.Tensor
            Scalars, batch means in nats per image: "loss" = recon + beta * kl, "recon", "kl".

        Raises
        ------
        TrainingError
            No labels `y`.
        """
        if y is None:
            raise TrainingError("a conditional VAE trains on labels: pass y (fit and train take y_train and y_val)",
                                field="y_train")
        return self._elbo_loss(x, target, y)

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, k: int = 100, max_decodes: int = IWAE_DECODES,
                            generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """Importance-weighted estimate of log p(x|y) per image with `y`; without, log p(x) = logsumexp_c log p(x|c) -
        log C (uniform classes). Runs without gradients.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        k : int, default 100
            Importance samples per image (and per class without `y`).
        max_decodes : int, default IWAE_DECODES
            Images decoded at a time, to bound memory; does not change the values.
        generator : torch.Generator, optional
            Seeded for reproducible draws.
        y : torch.Tensor, optional
            Labels, int64 (B,).

        Returns
        -------
        torch.Tensor
            log p(x|y) or log p(x) estimates, (B,), nats.
        """
        if y is not None:
            return torch.logsumexp(self.log_weights(x, k, generator, max_decodes, y=y.to(x.device).long()), 0) \
                - math.log(k)
        per_class = [torch.logsumexp(self.log_weights(x, k, generator, max_decodes,
                                                      y=torch.full((len(x),), c, device=x.device)), 0) - math.log(k)
                     for c in range(self.n_classes)]
        return torch.logsumexp(torch.stack(per_class), 0) - math.log(self.n_classes)
