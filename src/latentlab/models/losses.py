"""Bernoulli reconstruction loss from logits, summed: the training hot path of every model here.

On a CPU the loss, not the matmuls, was the largest single cost of a small autoencoder's step: aten's
`binary_cross_entropy_with_logits` goes through `log_sigmoid` (an exp and a log per pixel, with a buffer) and
its backward through a second `sigmoid` pass, about 40% of a 784-32-784 step at batch 256. The same sum needs
one exp per pixel and one log per 64 pixels:

    bce(z, y) = softplus(z) - y z = max(z, 0) - y z + log(1 + exp(-|z|))

and the log terms are summed as the log of products of 64 factors, each in (1, 2], so no product can overflow
(2**64 is far below float32's range). Where exp(-|z|) is below float32's resolution next to 1 the factor
rounds to 1 and that pixel's term (< 6e-8 nats) is dropped: far below the loss's own rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

_CHUNK = 64


class _BCEWithLogitsSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, logits: Tensor, target: Tensor) -> Tensor:
        z, y = logits.reshape(-1), target.reshape(-1)
        q = z.abs().neg_().exp_().add_(1.0)  # 1 + exp(-|z|), in (1, 2]
        m = q.numel() - q.numel() % _CHUNK
        log_terms = q[:m].view(-1, _CHUNK).prod(1).log_().sum() + q[m:].log().sum()
        ctx.save_for_backward(logits, target)
        return torch.relu(z).sum() - torch.dot(y, z) + log_terms

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, None]:
        logits, target = ctx.saved_tensors  # type: ignore[attr-defined]
        if not ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            return None, None
        return torch.sigmoid(logits).sub_(target).mul_(grad), None


def bce_with_logits_sum(logits: Tensor, target: Tensor) -> Tensor:
    """Sum over all elements of the binary cross-entropy of `sigmoid(logits)` against `target` in [0, 1].

    Equal to `F.binary_cross_entropy_with_logits(logits, target, reduction="sum")` (to float32 rounding) and
    differentiable in `logits`; computed in float32 at least, so bfloat16 logits under autocast are safe.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    if target.requires_grad:
        raise ValueError("the target must not require grad: this loss differentiates in the logits only")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    return _BCEWithLogitsSum.apply(logits.to(dtype).contiguous(), target.to(dtype).contiguous())
