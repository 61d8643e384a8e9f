"""Building blocks shared by the autoencoders: dense stacks and the conv encoder/decoder pair, for images of any
(channels, height, width) the config allows."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENCODERS = ("dense", "conv")


def glorot_(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as Keras does: it trains these small nets faster than torch's default."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def channels_last_(module: nn.Module) -> None:
    """Store conv weights channels-last (NHWC). oneDNN then runs the convolutions in that layout, which trained
    the conv autoencoder about 1.3x faster on a 2-core CPU; dense-only modules are left untouched."""
    if any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in module.modules()):
        module.to(memory_format=torch.channels_last)


def mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    """Linear layers between consecutive `sizes`, ReLU after each but (optionally) the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _halvings(n_layers: int) -> int:
    # The first two convs have stride 2 (28 -> 14 -> 7); a third keeps the size.
    return min(n_layers, 2)


def padded_side(side: int, n_layers: int) -> int:
    """`side` rounded up to a multiple of 2**halvings, so each stride-2 stage halves it exactly and the decoder's
    transposed convs double it back: 28 stays 28 (the seed's models are unchanged), 30 becomes 32."""
    step = 2 ** _halvings(n_layers)
    return math.ceil(side / step) * step


class PadTo(nn.Module):
    """Zero-pad images on the bottom and right to (height, width); the decoder crops the same margin off."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.width - w, 0, self.height - h)) if (h, w) != (self.height, self.width) else x


class CropTo(nn.Module):
    """Keep the top-left (height, width) of a feature map: undoes `PadTo`."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.height, : self.width]


def conv_encoder(channels: tuple[int, ...], image_shape: tuple[int, ...] = (1, 28, 28)) -> tuple[nn.Sequential, int]:
    """3x3 convs, stride 2 then 1; returns the trunk (ending flattened) and its output width."""
    c_in, height, width = image_shape
    ph, pw = padded_side(height, len(channels)), padded_side(width, len(channels))
    layers: list[nn.Module] = [PadTo(ph, pw)] if (ph, pw) != (height, width) else []
    for i, c_out in enumerate(channels):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2 if i < 2 else 1, padding=1), nn.ReLU()]
        c_in = c_out
    scale = 2 ** _halvings(len(channels))
    return nn.Sequential(*layers, nn.Flatten()), c_in * (ph // scale) * (pw // scale)


def conv_decoder(channels: tuple[int, ...], latent_dim: int, image_shape: tuple[int, ...] = (1, 28, 28)
                 ) -> nn.Sequential:
    """Mirror of `conv_encoder`: a dense layer back to the feature map, then transposed convs to (C, H, W) logits."""
    c_img, height, width = image_shape
    ph, pw = padded_side(height, len(channels)), padded_side(width, len(channels))
    scale = 2 ** _halvings(len(channels))
    rev = list(reversed(channels))
    layers: list[nn.Module] = [nn.Linear(latent_dim, rev[0] * (ph // scale) * (pw // scale)), nn.ReLU(),
                               nn.Unflatten(1, (rev[0], ph // scale, pw // scale))]
    outs = rev[1:] + [c_img]
    n = len(channels)
    for i, (c_in, c_out) in enumerate(zip(rev, outs, strict=True)):
        upsample = (n - 1 - i) < 2  # undo the stride-2 encoder layers, which were the first two
        if upsample:
            layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1))
        else:
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
        # Grey images keep the first version's rule (no ReLU on a 1-channel map), so its saved runs still load.
        if (c_out != 1) if c_img == 1 else (i < n - 1):
            layers.append(nn.ReLU())
    if (ph, pw) != (height, width):
        layers.append(CropTo(height, width))
    return nn.Sequential(*layers)


def trunks(hidden: tuple[int, ...], latent_dim: int, encoder: str, image_shape: tuple[int, ...]
           ) -> tuple[nn.Sequential, int, nn.Sequential]:
    """(encoder trunk ending in features, its width, decoder from `latent_dim` to logits) for a dense or conv
    `encoder`; the heads that map the features to codes are the model's own. ConfigError for another encoder."""
    from latentlab.errors import choose

    choose(ENCODERS, encoder, "model.encoder")
    if encoder == "conv":
        channels = hidden or (32, 64)
        trunk, width = conv_encoder(channels, image_shape)
        return trunk, width, conv_decoder(channels, latent_dim, image_shape)
    pixels = math.prod(image_shape)
    trunk = nn.Sequential(nn.Flatten(), mlp([pixels, *hidden], last_activation=True))
    return trunk, hidden[-1] if hidden else pixels, mlp([latent_dim, *reversed(hidden), pixels], last_activation=False)
