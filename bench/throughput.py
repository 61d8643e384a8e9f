"""Training throughput and time to quality: latentlab's engine against the canonical loops, alternated.

Each repetition trains the engine, the examples-style canonical loop and the same loop running latentlab's model
(see `bench.canonical`), in an order that rotates, so that a drift in the machine's load hits all sides alike.
Same architecture, batch size, optimizer, learning rate and number of epochs. Steady-state samples/s is the
median over all epochs but the first of every run.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from torch import nn

from bench import canonical
from bench.common import Data, bench_config, median
from latentlab.training import train

QUALITY_SLACK = 1.01  # the engine's final validation loss may be at most 1% above the canonical loop's
TTQ_EPOCHS = 10  # time to quality: the canonical loop's validation loss after this many epochs is the bar


def engine_run(model: str, data: Data, epochs: int, seed: int = 0) -> dict[str, Any]:
    """One engine run; `eval_s` is the wall time outside the timed training loops, per epoch."""
    cfg = bench_config(model, epochs, seed)
    t0 = time.perf_counter()
    result = train(cfg, data.x_train, data.x_test, None, quiet=True)
    wall = time.perf_counter() - t0
    if result.status == "interrupted":  # the engine turns SIGINT/SIGTERM into a clean stop; so does the bench
        raise KeyboardInterrupt
    hist = [{"epoch": h["epoch"], "samples_per_s": h["samples_per_s"], "time_s": h["time_s"],
             "val": h["val"]["loss"]} for h in result.history]
    overhead = max(0.0, wall - sum(h["time_s"] for h in hist)) / len(hist)
    for h in hist:
        h["eval_s"] = overhead  # validation plus set-up, spread evenly: errs on the slow side
    return {"history": hist, "wall_s": wall, "model": result.model}


def canonical_run(model: str, data: Data, epochs: int, seed: int = 0, style: str = "examples") -> dict[str, Any]:
    cfg = bench_config(model, epochs, seed)
    t0 = time.perf_counter()
    # The preset's model and batch, but the examples' learning rate (canonical.LR): the yardstick does not move
    # when a preset's lr does. Speed does not depend on it; the validation losses and time to quality do.
    hist = canonical.train(cfg.model, data.x_train, data.x_test, epochs, cfg.train.batch_size, seed, canonical.LR,
                           style)
    return {"history": hist, "wall_s": time.perf_counter() - t0}


def steady(history: list[dict[str, Any]]) -> list[float]:
    """samples/s of every epoch but the first (which pays for allocation and kernel warm-up)."""
    return [h["samples_per_s"] for h in history[1:]]


CONTENDERS = ("engine", "canonical", "same-model")


def compare(model: str, data: Data, epochs: int, reps: int, extra_engine_epochs: int = 0,
            speed_epochs: int | None = None, same_model: bool = True) -> tuple[dict[str, Any], nn.Module]:
    """Engine vs the canonical loops for `model`: throughput ratios, final validation losses, time to quality;
    and the engine's trained model (for the inference section).

    `canonical` is the examples-style loop (the yardstick); `same-model` is that loop running latentlab's own
    model, so its ratio isolates the loop. Repetition 0 trains the engine and the canonical loop for `epochs`
    (the engine `extra_engine_epochs` more, so that time to quality can be read off it when it reaches the bar
    only after the canonical loop's epoch count); it gives the losses. Every other run is `speed_epochs` long
    (default `epochs`), for throughput only: more, shorter runs follow the machine's drifting speed more
    closely than fewer long ones. The order rotates from one repetition to the next. `same_model=False` skips
    the same-model loop (its keys are then None).
    """
    speed_epochs = speed_epochs or epochs
    contenders = CONTENDERS if same_model else CONTENDERS[:2]
    runs: dict[str, list[dict[str, Any]]] = {who: [] for who in contenders}
    for rep in range(reps):
        k = rep % len(contenders)
        order = contenders[k:] + contenders[:k]
        for who in order:
            if who == "engine":
                runs[who].append(engine_run(model, data, epochs + extra_engine_epochs if rep == 0 else speed_epochs))
            elif who == "canonical":
                runs[who].append(canonical_run(model, data, epochs if rep == 0 else speed_epochs))
            else:
                runs[who].append(canonical_run(model, data, speed_epochs, style="same-model"))
    speed = {who: [s for r in rs for s in steady(r["history"])] for who, rs in runs.items()}
    per_rep = {who: [median(steady(r["history"])) for r in rs] for who, rs in runs.items()}

    def versus(who: str) -> tuple[float | None, float | None, list[float] | None, list[float] | None]:
        """`who`'s samples/s, the engine's speed-up over it (overall and per repetition), its epoch speeds."""
        if who not in runs:
            return None, None, None, None
        ratio = median(speed["engine"]) / median(speed[who])
        paired = [e / c for e, c in zip(per_rep["engine"], per_rep[who], strict=True)]
        return median(speed[who]), ratio, paired, speed[who]

    can_speed, ratio, paired, can_epochs = versus("canonical")
    same_speed, same_ratio, same_paired, same_epochs = versus("same-model")
    eng_hist, can_hist = runs["engine"][0]["history"], runs["canonical"][0]["history"]
    val_engine, val_canonical = eng_hist[epochs - 1]["val"], can_hist[epochs - 1]["val"]
    out: dict[str, Any] = {
        "epochs": epochs, "reps": reps, "speed_epochs": speed_epochs,
        "batch_size": bench_config(model, epochs).train.batch_size,
        "engine_samples_per_s": median(speed["engine"]), "canonical_samples_per_s": can_speed,
        "ratio": ratio, "paired_ratios": paired,
        "same_model_samples_per_s": same_speed, "same_model_ratio": same_ratio,
        "same_model_paired_ratios": same_paired,
        "engine_epoch_samples_per_s": speed["engine"], "canonical_epoch_samples_per_s": can_epochs,
        "same_model_epoch_samples_per_s": same_epochs,
        "val_loss_engine": val_engine, "val_loss_canonical": val_canonical,
        "quality_ok": val_engine <= val_canonical * QUALITY_SLACK,
        "engine_val_curve": [h["val"] for h in eng_hist],
        "canonical_val_curve": [h["val"] for h in can_hist],
        "engine_epoch_wall_s": median([h["time_s"] + h["eval_s"] for h in eng_hist[1:]]),
        "canonical_epoch_wall_s": median([h["time_s"] + h["eval_s"] for h in can_hist[1:]]),
    }
    # The canonical loop's DataLoader is the one cost the engine removes outright; the rest is the model's
    # forward/backward, which the engine can only make cheaper, not skip.
    loader_s = canonical.loader_seconds(data.x_train, out["batch_size"])
    can_epoch_s = len(data.x_train) / out["canonical_samples_per_s"]
    out["canonical_loader_s_per_epoch"] = loader_s
    out["canonical_epoch_s"] = can_epoch_s
    out["ratio_ceiling_without_loader"] = can_epoch_s / max(can_epoch_s - loader_s, 1e-9)
    out["time_to_quality"] = time_to_quality(eng_hist, can_hist)
    return out, runs["engine"][0]["model"]


def fit_curve(values: list[float]) -> tuple[float, float]:
    """Least-squares a, b of loss(epoch) = a + b / epoch over epochs 1..len(values)."""
    e = np.arange(1, len(values) + 1, dtype=np.float64)
    a_mat = np.stack([np.ones_like(e), 1.0 / e], axis=1)
    (a, b), *_ = np.linalg.lstsq(a_mat, np.asarray(values, np.float64), rcond=None)
    return float(a), float(b)


def time_to_quality(eng: list[dict[str, Any]], can: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time for the engine to reach the canonical loop's TTQ_EPOCHS-epoch validation loss.

    Where fewer epochs were measured, the bar (and, if needed, the engine's epoch of reaching it) are
    extrapolated from loss = a + b / epoch fitted to the measured curve; `estimated` says so.
    """
    estimated = len(can) < TTQ_EPOCHS
    if estimated:
        a, b = fit_curve([h["val"] for h in can])
        bar = a + b / TTQ_EPOCHS
        can_wall = sum(h["time_s"] + h["eval_s"] for h in can[:1]) + (TTQ_EPOCHS - 1) * median(
            [h["time_s"] + h["eval_s"] for h in can[1:]])
    else:
        bar = can[TTQ_EPOCHS - 1]["val"]
        can_wall = sum(h["time_s"] + h["eval_s"] for h in can[:TTQ_EPOCHS])
    wall, reached = 0.0, None
    for h in eng:
        wall += h["time_s"] + h["eval_s"]
        if h["val"] <= bar:
            reached = h["epoch"]
            break
    if reached is None and len(eng) >= 3:
        # Not reached in the measured epochs: extrapolate the engine's own curve (an estimate).
        a, b = fit_curve([h["val"] for h in eng])
        if bar > a and b > 0:
            reached = math.ceil(b / (bar - a))
            per_epoch = median([h["time_s"] + h["eval_s"] for h in eng[1:]])
            wall = sum(h["time_s"] + h["eval_s"] for h in eng) + (reached - len(eng)) * per_epoch
            estimated = True
    if reached is None:
        return {"bar_val_loss": bar, "canonical_wall_s": can_wall, "engine_epochs": None, "engine_wall_s": None,
                "speedup": None, "estimated": estimated}
    return {"bar_val_loss": bar, "canonical_wall_s": can_wall, "engine_epochs": reached, "engine_wall_s": wall,
            "speedup": can_wall / wall, "estimated": estimated}
