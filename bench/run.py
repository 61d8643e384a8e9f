"""`make bench`: latentlab's training engine against the canonical PyTorch loop, and how close it gets to the machine.

Writes bench/results.json and prints a markdown table. Every timing is a median over repetitions after a
warm-up; every comparison is a ratio measured in this one invocation with its two sides alternated.

    python bench/run.py                 # the full bench, every #13 target (about 70 minutes on 2 cores)
    python bench/run.py --only parallel # one section (its own sizes), e.g. --jobs 2 vs 1 (about 15 minutes)
    python bench/run.py --smoke         # every code path on tiny sizes, in seconds (used by the tests)
    python bench/run.py --only family   # the VAE family against pythae (bench/family.py; pythae in its own venv)
    python bench/run.py --only explain  # issue #25: explain vs score_samples on 1,000 images, the web's detect
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/, not the repository, on the path
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    colour,
    compiled,
    contention,
    explain,
    family,
    flops,
    inference,
    memory,
    parallel,
    profiling,
    reporttime,
    scaling,
    table,
    throughput,
)
from bench.common import MODELS, Data, bench_config, load_average, load_data, machine, machine_line  # noqa: E402
from latentlab.models import build_model  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How much of each section to run. `runs`: model -> (epochs of the quality run, repetitions, extra engine
    epochs for time to quality, epochs of each further speed-only repetition)."""

    runs: dict[str, tuple[int, int, int, int]]
    peak_seconds: float
    profile_steps: int
    memory_epochs: int
    score_reps: int
    decode_calls: int
    ddp_reps: int
    n_train: int | None = None  # None: all training images
    n_test: int | None = None
    measure_report: bool = True  # run `latentlab report --profile quick` when the command exists
    peak_shapes: dict[str, tuple[int, int, int]] | None = None  # None: flops.GEMMS
    compile_models: tuple[str, ...] = ("simple", "deep")
    compile_epochs: int = 3
    same_model: tuple[str, ...] = tuple(MODELS)  # models whose same-model loop runs too
    colour: tuple[int, int, int, int | None] = (5, 2, 50_000, None)  # epochs, reps, memory-run images, n_train
    # parallel: the one-class benchmark's classes, repetitions, and extra arguments for the report and one-class
    # runs. All ten classes, as `latentlab benchmark one-class` runs them: with two (0, 6), on a machine doing a
    # class in 5 s, the workers' start-up (about 3 s each) was a quarter of the run (--jobs 2 measured 1.02x).
    parallel_classes: tuple[int, ...] = tuple(range(10))
    parallel_reps: int = 1
    report_args: tuple[str, ...] = ()
    one_class_args: tuple[str, ...] = ()
    timeout_s: float = 3600.0
    tiny_data: bool = False  # the parallel and report-full commands read the bench data, written as IDX files
    # contention: (preset, dataset) pairs trained, epochs each, busy cores, busy cores under which the quick report
    # runs too (idle and one busy: about 105 s and 150-400 s per run on 2 cores; two busy would add ~15 minutes)
    contention: tuple[tuple[tuple[str, str], ...], int, tuple[int, ...], tuple[int, ...]] = (
        (("mnist-vae", "mnist-sample"), ("mnist-conv", "mnist-sample"), ("fashion-vae", "fashion-mnist")), 3,
        (0, 1, 2), (0, 1))
    explain_images: int = 1000  # issue #25: explain on 1,000 images costs at most 3x score_samples
    explain_uploads: int = 20


# Every model's first repetition runs the canonical loop's full 10 epochs, so that time to quality is measured,
# not extrapolated from a fitted curve (vae at 5 epochs estimated 2.00x and 2.13x in two runs, on the edge of its
# 2x target). On an AVX-512 2-core host the throughput section then took 260 s against 158 s; on the slow AVX2
# one (~65 GFLOP/s) that is about 10 minutes more (estimated from its epoch times, not measured).
# The engine needs no extra epochs for vae and conv: it reached the bar in 6 and 4 epochs.
# The same-model loop is skipped for conv: its step is convolution-bound and the loop is ~1.5% of its epoch.
# `--only compile` measures torch.compile on deep only (simple measured slower compiled, vae and conv no faster).
FULL = Plan(runs={"simple": (10, 2, 3, 3), "deep": (10, 2, 3, 3), "vae": (10, 2, 0, 2), "conv": (10, 1, 0, 2)},
            peak_seconds=1.5, profile_steps=100, memory_epochs=1, score_reps=5, decode_calls=1000, ddp_reps=2,
            same_model=("simple", "deep", "vae"), compile_models=("deep",))
SMOKE = Plan(runs={m: (2, 2, 1, 2) for m in MODELS}, peak_seconds=0.05, profile_steps=2, memory_epochs=1,
             score_reps=1, decode_calls=5, ddp_reps=1, n_train=512, n_test=256, measure_report=False,
             peak_shapes={"tiny 64x64x64": (64, 64, 64)}, compile_models=("simple",), compile_epochs=2,
             colour=(2, 1, 2_000, 256), parallel_classes=(0, 1), timeout_s=300.0, tiny_data=True,
             # one experiment of one epoch, and two classes of two steps, on the bench's few images
             report_args=("--presets", "mnist-simple", "--epochs", "1", "--iwae-k", "2"),
             one_class_args=("--steps", "2"), explain_images=64, explain_uploads=2,
             contention=((("mnist-simple", "mnist-sample"),), 1, (0, 1), ()))


def _subset(data: Data, plan: Plan) -> Data:
    if plan.n_train is None:
        return data
    return Data(data.x_train[: plan.n_train], data.x_test[: plan.n_test], data.name, data.source, data.is_sample)


def run(plan: Plan, sections: set[str], log=print, data: Data | None = None) -> dict[str, Any]:
    """Run `sections` of the bench at the sizes of `plan` (on `data`, default the bench data) -> results."""
    t_start = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def log_section(msg: str) -> None:
        if not msg.startswith(" "):  # "section: ..." starts a section; indented lines are its results
            marks.append((msg.split(":", 1)[0], time.perf_counter()))
        log(msg)

    data = _subset(data or load_data(), plan)
    results: dict[str, Any] = {
        "machine": machine(), "load_average_start": load_average(),
        "data": {"name": data.name, "source": data.source, "is_sample": data.is_sample,
                 "n_train": len(data.x_train), "n_test": len(data.x_test)},
        "plan": {"runs (epochs, reps, extra engine epochs, speed-rep epochs)": plan.runs,
                 "smoke": plan.n_train is not None},
    }
    models: dict[str, Any] = {}
    if "peak" in sections:
        log_section("peak: float32 matmul GFLOP/s")
        results["peak_start"] = flops.peak(plan.peak_seconds, plan.peak_shapes)
    if "throughput" in sections:
        results["throughput"] = {}
        for name, (epochs, reps, extra, speed_epochs) in plan.runs.items():
            log_section(f"throughput: {name} ({epochs} epochs, then {reps - 1} x {speed_epochs}; engine and "
                        "canonical loops alternated)")
            before = flops.square_gflops(plan.peak_seconds, plan.peak_shapes)
            results["throughput"][name], models[name] = throughput.compare(
                name, data, epochs, reps, extra, speed_epochs, same_model=name in plan.same_model)
            # The machine slows under sustained load (the end-of-run peak is below the start's), so each
            # model's fraction of peak is taken against matmuls timed just before and just after it.
            results["throughput"][name]["peak_gflops_around"] = [
                before, flops.square_gflops(plan.peak_seconds, plan.peak_shapes)]
            log_section("  " + table.throughput_line(name, results["throughput"][name]))
    if "peak" in sections:
        results["peak_end"] = flops.peak(plan.peak_seconds, plan.peak_shapes)
        results["flops"] = _flops(results)
    if "compile" in sections:
        results["compile"] = {}
        for name in plan.compile_models:
            log_section(f"compile: {name} eager vs train.compile=true")
            results["compile"][name] = compiled.compare(name, data, plan.compile_epochs)
    if "profile" in sections:
        results["profile"] = {}
        for name in MODELS:
            log_section(f"profile: {name}")
            results["profile"][name] = profiling.top_ops(name, data.x_train, plan.profile_steps)
    if "memory" in sections:
        results["memory"] = {}
        for name in MODELS:
            log_section(f"memory: {name}")
            results["memory"][name] = memory.peak_rss(name, plan.memory_epochs, _dataset_name(data, plan))
    if "inference" in sections:
        log_section("inference: scoring and decode latency")
        results["inference"] = _inference(models, data, plan)
    if "scaling" in sections:
        log_section("scaling: 1 process vs 2 torchrun processes")
        results["scaling"] = scaling.scaling("fashion-deep", _dataset_name(data, plan), reps=plan.ddp_reps)
    if "colour" in sections:
        epochs, reps, n_memory, n_train = plan.colour
        log_section(f"colour: cifar10-conv engine vs a plain loop ({epochs} epochs x {reps}), peak RSS on "
                    f"{n_memory:,} colour images")
        results["colour"] = colour.run(epochs, reps, n_memory, n_train, None if n_train is None else n_train // 4)
        log_section("  " + colour.line(results["colour"]))
    if "explain" in sections:  # issue #25: explain against score_samples, the web's detect with its explanation
        log_section(f"explain: {plan.explain_images:,} test images, explain vs score_samples; web detect")
        results["explain"] = explain.measure(data, plan.explain_images, reps=plan.score_reps,
                                             uploads=plan.explain_uploads)
        log_section("  " + explain.line(results["explain"]))
    with parallel.tiny_data(data.x_train, data.x_test) if plan.tiny_data else nullcontext():
        if "parallel" in sections:
            _parallel(results, plan, log_section)
        if "report-full" in sections:
            log_section("report-full: latentlab report --profile full, end to end, once")
            with parallel.full_size_mnist() as mnist:
                results["report_full"] = parallel.full("full", plan.report_args, plan.timeout_s, mnist)
            log_section("  " + parallel.full_line(results["report_full"]))
    if "contention" in sections:
        presets, epochs, loads, report_loads = plan.contention
        log_section(f"contention: idle and beside {', '.join(map(str, loads[1:]))} spinning processes, torch's "
                    "defaults against the thread policy")
        results["contention"] = contention.run(presets, epochs, loads, report_loads, log_section)
    if "family" in sections:
        log_section("family: the VAE family against pythae (same networks, data, epochs, batch size, lr)")
        results["family"] = family.run(family.SMOKE if plan.n_train is not None else family.FULL, log=log_section)
    if "report" in sections:
        log_section("report: latentlab report --profile quick, and the full profile's estimate")
        results["report_time"] = _report_time(results, data, plan.measure_report)
    results["load_average_end"] = load_average()
    results["wall_s"] = time.perf_counter() - t_start
    results["section_s"] = _section_seconds(marks, t_start + results["wall_s"])
    results["targets"] = table.targets(results)
    return results


def _parallel(results: dict[str, Any], plan: Plan, log_section: Any) -> None:
    results["parallel"] = {}
    cases = {"quick report": parallel.report_case("quick", plan.report_args),
             "one-class": parallel.one_class_case(plan.parallel_classes, "fashion-mnist", plan.one_class_args)}
    for key, case in cases.items():
        log_section(f"parallel: {case.name}, " + " vs ".join(case.variants) + f" ({plan.parallel_reps} x each)")
        results["parallel"][key] = parallel.measure(case, plan.parallel_reps, plan.timeout_s)
        log_section("  " + parallel.line(key, results["parallel"][key]))


def _section_seconds(marks: list[tuple[str, float]], t_end: float) -> dict[str, float]:
    """Wall seconds per section, from the times its log lines started (a section may log more than once)."""
    out: dict[str, float] = {}
    for (name, t), (_, t_next) in zip(marks, [*marks[1:], ("end", t_end)], strict=True):
        out[name] = round(out.get(name, 0.0) + t_next - t, 1)
    return out


def _dataset_name(data: Data, plan: Plan) -> str:
    # Children load the data themselves; in smoke mode they get the small bundled sample.
    return "fashion-mnist-sample" if data.is_sample or plan.n_train is not None else "fashion-mnist"


def _flops(results: dict[str, Any]) -> dict[str, Any]:
    peak = max(results["peak_start"]["peak_gflops"], results["peak_end"]["peak_gflops"])
    out: dict[str, Any] = {"peak_gflops": peak,
                           "note": "fraction_of_peak: against the mean of square matmuls timed just before and "
                                   "after the model's runs; fraction_of_best_peak: against the best matmul of "
                                   "the run (start or end)"}
    for name, r in results.get("throughput", {}).items():
        per_sample = flops.train_flops_per_sample(build_model(bench_config(name, 1).model))
        achieved = r["engine_samples_per_s"] * per_sample / 1e9
        around = sum(r["peak_gflops_around"]) / len(r["peak_gflops_around"])
        out[name] = {"train_flops_per_sample": per_sample, "achieved_gflops": achieved,
                     "peak_gflops_around": around, "fraction_of_peak": achieved / around,
                     "fraction_of_best_peak": achieved / peak,
                     "canonical_fraction_of_peak": r["canonical_samples_per_s"] * per_sample / 1e9 / around}
    return out


def _inference(models: dict[str, Any], data: Data, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {"scoring": {}, "decode_latency": {}}
    for name in ("simple", "vae"):
        model = models.get(name) or build_model(bench_config(name, 1).model)
        out["scoring"][name] = inference.scoring(model, data.x_test, plan.score_reps)
        out["decode_latency"][name] = inference.decode_latency(model, plan.decode_calls)
    out["novelty"] = inference.novelty(models.get("vae"), data, plan.score_reps)
    vae = models.get("vae") or build_model(bench_config("vae", 1).model)
    out["web"] = inference.web_decode_latency(vae, bench_config("vae", 1), max(5, plan.decode_calls // 3))
    return out


def _report_time(results: dict[str, Any], data: Data, measure: bool) -> dict[str, Any]:
    walls = {name: r["engine_epoch_wall_s"] for name, r in results.get("throughput", {}).items()}
    ran = results.get("parallel", {}).get("quick report", {}).get("variants", {}).get(parallel.JOBS_1)
    if ran:  # the parallel section's --jobs 1 run is the quick report as `make demo` runs it here
        quick = {"status": "measured (the parallel section's --jobs 1 run)", "wall_s": ran["median_wall_s"],
                 "command": "latentlab report --profile quick --jobs 1"}
    elif not measure:
        quick: dict[str, Any] = {"status": "not measured (smoke run)"}
    elif reporttime.report_available():
        quick = reporttime.measure("quick", timeout_s=900)
    else:
        quick = {"status": "TODO: `latentlab report` does not exist yet; measure it here when it lands"}
    outside = quick.get("outside_training_s", 0.0)
    return {"quick": quick, "estimate": reporttime.estimate(walls, len(data.x_train), outside)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that every path runs")
    parser.add_argument("--out", type=Path, help="default bench/results.json; bench/results-family.json for "
                        "--only family, so that the family's run leaves the main results alone")
    # compile is not in the default run: measured slower or no faster here (0.84-1.07x on deep, 0.84x on
    # simple) and it costs a minute; `--only compile` measures it. colour (about 10 minutes on 2 cores) would take
    # the default run past its 20 minutes: `--only colour` measures it.
    # parallel (about 15 minutes) and report-full (the full report once: 20-40 minutes) make the default run about
    # 70 minutes, but they are issue #13's targets, and `make bench` is to print them all.
    parser.add_argument("--only", default="peak,throughput,profile,memory,inference,scaling,parallel,report-full,"
                        "contention,report", help="comma-separated sections to run (also: compile, colour, family, "
                        "explain)")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    results = run(plan, set(args.only.split(",")), log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.out is None:
        args.out = ROOT / "bench" / ("results-family.json" if args.only == "family" else "results.json")
    args.out.write_text(json.dumps(results, indent=2, default=_jsonable) + "\n")
    print(table.markdown(results))
    if "family" in results:
        print("\n## The VAE family against pythae\n\n" + family.markdown(results["family"]))
    print(f"\nwrote {args.out} in {results['wall_s']:.0f} s; "
          + machine_line(results["machine"], results["load_average_start"], results["load_average_end"]))
    return 0


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


if __name__ == "__main__":
    sys.exit(main())
