"""Smoke tests of `make bench` on tiny sizes, so its code paths cannot rot. No timing is asserted."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import canonical, flops, inference, profiling, reporttime, run, table, throughput  # noqa: E402
from bench.common import Data, bench_config  # noqa: E402

from latentlab.models import build_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny(bars) -> Data:
    x_train, _, x_test, _ = bars
    return Data(x_train[:256], x_test[:64], "bars", "synthetic", True)


@pytest.mark.parametrize("style", canonical.STYLES)
def test_canonical_loops_train_and_report_each_epoch(style, tiny):
    cfg = bench_config("simple", epochs=1)
    hist = canonical.train(cfg.model, tiny.x_train[:128], tiny.x_test[:32], 2, 64, style=style)
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all(h["samples_per_s"] > 0 and np.isfinite(h["val"]) for h in hist)
    assert hist[1]["val"] < hist[0]["val"]


def test_an_unknown_canonical_style_is_refused(tiny):
    with pytest.raises(ValueError, match="style must be one of"):
        canonical.train(bench_config("simple", 1).model, tiny.x_train[:64], tiny.x_test[:32], 1, 64, style="keras")


def _examples_with_latentlabs_weights(name: str):
    cfg = bench_config(name, 1).model
    torch.manual_seed(0)
    ours = build_model(cfg)
    theirs, loss_fn, summed = canonical.examples_model(cfg)
    with torch.no_grad():
        if name == "vae":
            heads_w, heads_b = ours.heads.weight.chunk(2), ours.heads.bias.chunk(2)
            pairs = [(theirs.fc1.weight, ours.encoder[1][0].weight), (theirs.fc1.bias, ours.encoder[1][0].bias),
                     (theirs.fc21.weight, heads_w[0]), (theirs.fc21.bias, heads_b[0]),
                     (theirs.fc22.weight, heads_w[1]), (theirs.fc22.bias, heads_b[1]),
                     (theirs.fc3.weight, ours.decoder[0].weight), (theirs.fc3.bias, ours.decoder[0].bias),
                     (theirs.fc4.weight, ours.decoder[2].weight), (theirs.fc4.bias, ours.decoder[2].bias)]
        else:
            pairs = list(zip(theirs.parameters(), ours.parameters(), strict=True))
        for dst, src in pairs:
            dst.copy_(src)
    return ours, theirs, loss_fn, summed


@pytest.mark.parametrize("name", ["simple", "deep", "vae", "conv"])
def test_examples_models_are_latentlabs_architectures_in_latentlabs_units(name):
    # Same layers and sizes: latentlab's weights load one to one and give the same loss, per pixel (mean BCE)
    # or per image (negative ELBO, same noise draw), so validation losses compare directly.
    ours, theirs, loss_fn, summed = _examples_with_latentlabs_weights(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    x = torch.rand(16, 1, 28, 28)
    torch.manual_seed(1)
    expected = ours.loss(x)["loss"].item()
    torch.manual_seed(1)
    got = loss_fn(theirs, x).item() / (len(x) if summed else 1)
    assert got == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(("model", "reps", "same_model"), [("simple", 2, True), ("conv", 1, False)])
def test_compare_reports_ratio_quality_and_time_to_quality(model, reps, same_model, tiny):
    small = Data(tiny.x_train[:128], tiny.x_test[:32], "bars", "synthetic", True)
    result, trained = throughput.compare(model, small, epochs=3, reps=reps, extra_engine_epochs=1, speed_epochs=2,
                                         same_model=same_model)
    assert result["ratio"] > 0 and len(result["paired_ratios"]) == reps
    if same_model:
        assert result["same_model_ratio"] > 0 and len(result["same_model_paired_ratios"]) == reps
    else:
        assert result["same_model_ratio"] is None
    assert "same-model loop" in table.throughput_line(model, result)
    assert np.isfinite(result["val_loss_engine"]) and np.isfinite(result["val_loss_canonical"])
    assert result["time_to_quality"]["estimated"]  # fewer than 10 canonical epochs were measured
    assert isinstance(trained, torch.nn.Module)


def test_time_to_quality_reads_the_bar_off_ten_measured_epochs():
    can = [{"epoch": e, "val": 1.0 / e, "time_s": 2.0, "eval_s": 0.5} for e in range(1, 11)]
    eng = [{"epoch": e, "val": 1.0 / e - 0.001, "time_s": 0.5, "eval_s": 0.1} for e in range(1, 13)]
    t = throughput.time_to_quality(eng, can)
    assert not t["estimated"] and t["bar_val_loss"] == pytest.approx(0.1)
    assert t["engine_epochs"] == 10 and t["engine_wall_s"] == pytest.approx(6.0)
    assert t["speedup"] == pytest.approx(25.0 / 6.0)


def test_fit_curve_recovers_a_plus_b_over_epoch():
    a, b = throughput.fit_curve([2.0 + 3.0 / e for e in range(1, 6)])
    assert a == pytest.approx(2.0) and b == pytest.approx(3.0)


def test_flop_counts_match_the_layer_arithmetic():
    simple = build_model(bench_config("simple", 1).model)
    assert flops.macs_per_sample(simple, torch.rand(2, 1, 28, 28)) == 2 * 784 * 32
    conv = build_model(bench_config("conv", 1).model)
    # conv 1->32 and 32->64 (stride 2), two dense layers, transposed convs 64->32 and 32->1
    expected = (14 * 14 * 32 * 9) + (7 * 7 * 64 * 32 * 9) + 2 * 3136 * 32 + (7 * 7 * 64 * 32 * 9) + (14 * 14 * 32 * 9)
    assert flops.macs_per_sample(conv, torch.rand(2, 1, 28, 28)) == expected
    assert flops.peak(seconds=0.01, shapes={"tiny": (32, 32, 32)})["peak_gflops"] > 0


def test_profile_inference_and_estimates_run_on_tiny_inputs(tiny):
    prof = profiling.top_ops("simple", tiny.x_train, steps=2, top=3)
    assert len(prof["top_ops"]) == 3 and prof["total_self_cpu_ms"] > 0
    model = build_model(bench_config("vae", 1).model)
    assert inference.recon_scores(model, tiny.x_test).shape == (len(tiny.x_test),)
    assert inference.scoring(model, tiny.x_test, reps=1)["recon_bce_images_per_s"] > 0
    lat = inference.decode_latency(model, calls=3)["model_decode"]
    assert 0 < lat["p50_ms"] <= lat["p95_ms"]
    est = reporttime.estimate({"simple": 1.0, "deep": 2.0, "conv": 10.0, "vae": 3.0}, n_train=60_000)
    assert est["full"]["total_s"] > est["quick"]["total_s"] > 0


def test_tables_and_results_round_trip_through_json(tiny, tmp_path):
    plan = run.Plan(runs={"simple": (2, 1, 0, 2)}, peak_seconds=0.01, profile_steps=1, memory_epochs=1, score_reps=1,
                    decode_calls=2, ddp_reps=1, n_train=128, n_test=64, measure_report=False,
                    peak_shapes={"tiny": (32, 32, 32)})
    results = run.run(plan, {"peak", "throughput", "report"}, log=lambda _: None, data=tiny)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results, default=run._jsonable))
    back = json.loads(path.read_text())
    assert "simple time to canonical 10-epoch loss, speed-up (est.)" in back["targets"]
    assert back["targets"]["simple steady speed-up vs canonical (was x3, retired)"]["goal"] == "reported"
    text = table.markdown(back)
    assert "| simple | 256 |" in text and "Machine:" in text
    assert set(back["section_s"]) == {"peak", "throughput", "report"}
    assert sum(back["section_s"].values()) == pytest.approx(back["wall_s"], abs=0.2)


def test_web_decode_latency_goes_through_the_app():
    pytest.importorskip("fastapi")
    model = build_model(bench_config("vae", 1).model)
    out = inference.web_decode_latency(model, bench_config("vae", 1), calls=3)
    assert out["status"] == "measured" and 0 < out["p50_ms"] <= out["p95_ms"]


def test_colour_plain_loop_is_the_preset_model_with_its_loss():
    """The plain loop's model with latentlab's cifar10-conv weights gives latentlab's outputs and loss."""
    from bench import colour

    from latentlab.presets import preset_config

    torch.manual_seed(0)
    ours = build_model(preset_config(colour.PRESET).model)
    m = preset_config(colour.PRESET).model
    theirs = colour.PlainConvAutoencoder(m.hidden, m.latent_dim)
    with torch.no_grad():
        for dst, src in zip(theirs.parameters(), ours.parameters(), strict=True):
            dst.copy_(src)
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.nn.functional.mse_loss(theirs(x), x), ours.loss(x)["loss"], rtol=1e-5, atol=1e-7)


def test_colour_section_runs_on_tiny_sizes(monkeypatch):
    from bench import colour

    r = colour.compare(epochs=2, reps=1, n_train=128, n_test=32)
    assert r["n_train"] == 128 and r["ratio"] > 0 and np.isfinite(r["val_loss_ratio"])
    assert len(r["runs"]["engine"][0]) == len(r["runs"]["plain"][0]) == 2
    steps = colour.step_times(colour.load_colour(64)[0], rounds=2, steps=2, batch_size=16)
    assert steps["engine_ms_per_step"] > 0 and steps["ratio"] > 0
    mem = colour.peak_memory(n=300)
    assert mem["peak_rss_mib"] > 0 and mem["n_train"] == 300
    assert "colour conv AE (128 images" in colour.line({"throughput": r, "steps": steps, "memory": mem})


_POOL = """
import concurrent.futures as cf, multiprocessing as mp, time
def grow(mib):
    block = bytearray(mib * 2**20)  # touched: zero-filled pages are resident
    time.sleep(0.8)
    return len(block)
if __name__ == "__main__":
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("forkserver")) as pool:
        print(list(pool.map(grow, [150, 150])))
"""


def test_procmem_sees_the_parent_the_forkserver_and_each_worker(tmp_path):
    from bench import procmem

    (tmp_path / "pool.py").write_text(_POOL)
    r = procmem.run([sys.executable, "pool.py"], cwd=tmp_path, timeout_s=60)
    assert r["status"] == "ok", r["output_tail"]
    roles = [p["role"] for p in r["processes"]]
    assert roles.count("parent") == 1 and roles.count("forkserver") == 1 and roles.count("worker") == 2
    assert r["max_worker_peak_rss_mib"] >= 150 > r["parent_peak_rss_mib"]
    assert r["max_process_peak_rss_mib"] == r["max_worker_peak_rss_mib"]
    slow = procmem.run([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, timeout_s=0.5)
    assert slow["status"] == "timed out" and slow["wall_s"] < 10


@pytest.mark.slow  # nine CLI runs of a tiny report and benchmark: 30-90 s on 2 cores
def test_parallel_and_full_report_sections_run_in_smoke_mode(tmp_path):
    results = run.run(run.SMOKE, {"parallel", "report-full", "report"}, log=lambda _: None)
    par = results["parallel"]
    for key in ("quick report", "one-class"):
        for label, v in par[key]["variants"].items():
            assert v["status"] == "ok", (key, label, v["output_tail"])
            assert v["parent_peak_rss_mib"] > 0
        assert par[key]["ratio"] > 0
    assert par["one-class"]["variants"]["jobs 2"]["max_worker_peak_rss_mib"] > 0  # two classes: a pool of two
    assert par["one-class"]["threads_ratio"] > 0
    full = results["report_full"]
    assert full["status"] == "ok" and full["wall_s"] > 0 and full["processes"][0]["role"] == "parent"
    assert full["mnist"].startswith("MNIST as found (data dir ")  # the smoke run's own small MNIST
    tg = results["targets"]
    assert tg["full report min, end to end (goal 15)"]["target"] == 20
    assert "quick report s (make demo)" in tg
    assert any(k.startswith("one-class: --jobs 2 vs --jobs 1 (") for k in tg)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results, default=run._jsonable))
    text = table.markdown(json.loads(path.read_text()))
    assert "GiB RAM" in text and "load average" in text and "| target | value | goal | met |" in text
    assert "one-class: jobs 1 " in text and "end to end:" in text


def test_the_full_report_reads_a_stand_in_of_full_mnist_size_when_mnist_is_missing(tmp_path, monkeypatch):
    # Pins what report-full measures on a machine without full MNIST (this one): 60,000 + 10,000 images under
    # MNIST's name, read through LATENTLAB_DATA by the real loader, never taken for Fashion-MNIST; afterwards the
    # environment is as it was.
    from bench import parallel

    import latentlab.data
    from latentlab.data import DatasetError, ImageData
    from latentlab.data.resolve import load_dataset

    rng = np.random.default_rng(0)
    fashion = ImageData(name="fashion-mnist", x_train=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
                        y_train=rng.integers(0, 10, 60), x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
                        y_test=rng.integers(0, 10, 10), classes=tuple("abcdefghij"), source="test")

    def fake(name, **_):
        if name == "mnist":
            raise DatasetError("no MNIST here")
        return fashion

    monkeypatch.setattr(latentlab.data, "load_dataset", fake)
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path))
    with parallel.full_size_mnist() as note:
        assert "stand-in" in note
        mnist = load_dataset("mnist", download=False, progress=False)
    assert mnist.name == "mnist" and mnist.x_train.shape == (60, 28, 28)
    np.testing.assert_array_equal(mnist.x_train, fashion.x_train[:, :, ::-1])
    np.testing.assert_array_equal(mnist.y_test, (fashion.y_test + 1) % 10)
    assert os.environ["LATENTLAB_DATA"] == str(tmp_path)


def test_gpu_script_parses_prints_its_commands_and_fails_fast_without_a_gpu():
    import subprocess

    script = ROOT / "bench" / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PYTHONPATH": str(ROOT / "src")}
    dry = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    from latentlab.presets import PRESETS

    for preset in PRESETS:
        assert f"latentlab train {preset} " in dry.stdout
    assert dry.stdout.count("--device cuda") == len(PRESETS)
    assert "report --profile full --set train.device=cuda" in dry.stdout and "benchmark one-class" in dry.stdout
    if not torch.cuda.is_available():
        real = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=120)
        assert real.returncode == 3 and "no CUDA device" in real.stderr


@pytest.mark.slow  # about fifteen short CLI and Python children, one of them beside a spinning process: ~1-2 min
def test_contention_section_runs_in_smoke_mode(tmp_path):
    from bench import contention

    results = run.run(run.SMOKE, {"contention"}, log=lambda _: None)["contention"]
    rows = results["rows"]
    train = rows["train mnist-simple (mnist-sample), img/s"]
    for load in ("0", "1"):
        assert set(train[load]) == {contention.BASELINE, contention.POLICY}
        assert train[load][contention.POLICY]["value"] > 0
        # the child reports the policy it ran under: torch's defaults are not latentlab's
        assert train[load][contention.BASELINE]["raw"]["threads"]["managed"] is False
        assert train[load][contention.POLICY]["raw"]["threads"]["managed"] is True
        assert rows["detector fit + score_samples, s"][load][contention.POLICY]["value"] > 0
    assert rows["canonical PyTorch VAE loop (mnist-sample), img/s"]["0"][contention.BASELINE]["value"] > 0
    for name, r in results["restricted"].items():
        assert r.get("status") == "not available on this machine" or r["threads"]["threads"] == 1, name
    assert any(t["target"].endswith("1 busy / idle") for t in results["targets"])
    text = contention.markdown(json.loads(json.dumps(results)))
    assert "| target | value | goal | met |" in text and "of idle)" in text


def test_spinners_stop_by_themselves():
    from bench.contention import spinning

    with spinning(1, seconds=0.5) as procs:
        procs[0].wait(timeout=20)  # ends on its own deadline, before the block does
        assert procs[0].returncode == 0


# --- bench/family.py: the VAE family against pythae -------------------------------------------------------------

def _pythae_like(kind: str, latent: int, k: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    """A state dict named and shaped as pythae's default MLP networks (784-512-z) of `kind`, random values."""
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.05, shape).astype(np.float32)

    state = {"encoder.layers.0.0.weight": w(512, 784), "encoder.layers.0.0.bias": w(512),
             "encoder.embedding.weight": w(latent, 512), "encoder.embedding.bias": w(latent),
             "decoder.layers.0.0.weight": w(512, latent), "decoder.layers.0.0.bias": w(512),
             "decoder.layers.1.0.weight": w(784, 512), "decoder.layers.1.0.bias": w(784)}
    if kind in ("vae", "iwae", "vamp"):
        state |= {"encoder.log_var.weight": w(latent, 512), "encoder.log_var.bias": w(latent)}
    if kind == "vamp":
        state |= {"pseudo_inputs.0.weight": w(784, k) * 20, "pseudo_inputs.0.bias": w(784) + 0.3}
    if kind == "vqvae":
        state["quantizer.embeddings.weight"] = w(512, 1)
    return state


def _pythae_forward(state: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """pythae's default MLP forward, written out from its definition: Linear+ReLU, the embedding (and log_var)
    heads; the decoder Linear+ReLU, Linear+sigmoid."""
    t = {k: torch.from_numpy(v) for k, v in state.items()}
    h = torch.relu(torch.from_numpy(x).reshape(len(x), -1) @ t["encoder.layers.0.0.weight"].T
                   + t["encoder.layers.0.0.bias"])
    emb = h @ t["encoder.embedding.weight"].T + t["encoder.embedding.bias"]
    out = {"x": x, "embedding": emb.numpy()}
    if "encoder.log_var.weight" in t:
        out["log_covariance"] = (h @ t["encoder.log_var.weight"].T + t["encoder.log_var.bias"]).numpy()
    d = torch.relu(emb @ t["decoder.layers.0.0.weight"].T + t["decoder.layers.0.0.bias"])
    out["reconstruction"] = torch.sigmoid(d @ t["decoder.layers.1.0.weight"].T + t["decoder.layers.1.0.bias"]).numpy()
    return out


@pytest.mark.parametrize("model", ["vae", "iwae", "vamp", "vqvae", "wae"])
def test_family_weight_mapping_reproduces_pythae_outputs(model, tmp_path, bars):
    from bench import family, family_map

    from latentlab.config import override
    from latentlab.presets import preset_config

    kind, fields, _, _ = family.CASES[model]
    cfg = override(preset_config("mnist-vae"), {"model.kind": kind, "model.latent_dim": 4, **fields,
                                                "model.pseudo_inputs": 7}).model
    state = _pythae_like(kind, 4)
    np.savez(tmp_path / "weights.npz", **state)
    x = (bars[2][:16].astype(np.float32) / 255)[:, None]
    np.savez(tmp_path / "probe.npz", **_pythae_forward(state, x))
    mapped = family_map.load_pythae(cfg, tmp_path / "weights.npz")
    assert family_map.check_probe(mapped, tmp_path / "probe.npz") < 1e-5
    if kind == "vamp":  # pseudo-input k is hardtanh(W e_k + b), pythae's Linear on the identity
        w, b = state["pseudo_inputs.0.weight"], state["pseudo_inputs.0.bias"]
        want = np.clip(w @ np.eye(7, dtype=np.float32) + b[:, None], 0, 1).T
        np.testing.assert_allclose(mapped.pseudo_images().detach().reshape(7, -1).numpy(), want, atol=1e-6)
    # A wrong mapping is caught: the decoder's two layers' biases swapped for other values
    state["decoder.layers.1.0.bias"] = state["decoder.layers.1.0.bias"] + 1.0
    np.savez(tmp_path / "weights.npz", **state)
    with pytest.raises(ValueError, match="does not reproduce"):
        family_map.check_probe(family_map.load_pythae(cfg, tmp_path / "weights.npz"), tmp_path / "probe.npz")


def test_family_weights_that_do_not_fit_are_refused(tmp_path):
    from bench import family_map

    from latentlab.config import override
    from latentlab.presets import preset_config

    cfg = override(preset_config("mnist-vae"), {"model.latent_dim": 4}).model
    np.savez(tmp_path / "weights.npz", **_pythae_like("wae", 4))  # no log_var head: not a VAE's
    with pytest.raises(KeyError):
        family_map.load_pythae(cfg, tmp_path / "weights.npz")


@pytest.mark.slow  # four trainings in fresh processes: about 80 s on a busy 2-core machine
def test_family_smoke_trains_both_tools_and_evaluates_with_one_code(tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    from bench import family

    # `bench/run.py --smoke --only family`, on two of the six models
    monkeypatch.setattr(family, "SMOKE", replace(family.SMOKE, models=("vae", "wae")))
    assert run.main(["--smoke", "--only", "family", "--out", str(tmp_path / "family.json")]) == 0
    assert "## The VAE family against pythae" in capsys.readouterr().out
    results = json.loads((tmp_path / "family.json").read_text())["family"]
    assert [c["model"] for c in results["cases"]] == ["vae", "wae"]
    vae, wae = results["cases"]
    assert vae["latentlab"]["test"]["nll"] > 0 and wae["latentlab"]["test"]["nll"] is None
    assert vae["latentlab"]["train_s"] > 0 and vae["latentlab"]["process_s"] > vae["latentlab"]["train_s"]
    # the VAE's bound: NLL <= negative ELBO (up to the Monte Carlo noise of 4 samples on 32 images)
    assert vae["latentlab"]["test"]["nll"] <= vae["latentlab"]["test"]["neg_elbo"] + 1.0
    table = family.markdown(results)
    assert table.count("\n") == 5 and "mnist-sample" in table and table.startswith("Machine: ")
    if family.pythae_python() is None:
        assert "no pythae venv" in results["note"] and "not run" in table
    else:
        assert vae["pythae"]["mapping_max_abs_diff"] < 1e-4 and vae["pythae"]["test"]["nll"] > 0
        assert vae["ratios"]["metric"] == "nll" and wae["ratios"]["metric"] == "bce_at_code"


def test_explain_section_runs_in_smoke_mode():
    from bench import explain
    from bench.common import Data

    from latentlab import load_dataset

    d = load_dataset("mnist-sample", progress=False)
    r = explain.measure(Data(d.x_train[:600], d.x_test[:40], "mnist-sample", "sample", True), n=32, reps=1, uploads=2)
    assert r["images"] == 32 and r["explain_s"] > 0 and r["ratio"] > 0
    assert r["web"]["status"] == "measured" and r["web"]["p95_ms"] > 0
    assert "target <= 3x" in explain.line(r)


def test_views_study_runs_in_smoke_mode():
    """bench/views.py (issue #25's combination rules): every rule on every split, AUROC in percent; on the bundled
    digits 0 and 1 the hyperplane view is near perfect on the test split, and chance-free on the training split."""
    from bench import views

    from latentlab import load_dataset

    d = load_dataset("mnist-sample", progress=False)
    result = views.study(d, classes=[0, 1], n_anomalies=200, per_cell=2, max_loo=300)
    assert set(result) == set(views.RULES)
    assert all(set(r) == {"test", "validation", "defects"} for r in result.values())
    assert result["B (hyperplane)"]["test"] > 95 and result["B (hyperplane)"]["validation"] > 95
    assert all(0 <= v <= 100 for r in result.values() for v in r.values())
    assert views.table(result).count("\n") == len(views.RULES) + 1


def test_views_surprise_is_the_empirical_p_value_with_a_tail():
    from bench.views import surprise

    cal = np.arange(1.0, 100.0)  # 99 calibration distances 1..99
    s = surprise(cal, np.array([0.5, 50.0, 99.0, 120.0]))
    # p = (1 + #{cal >= d}) / 100: 1.0 below all, 0.5 at 50, 0.02 at the largest; beyond it the tail keeps growing
    assert np.allclose(s[:3], -np.log([1.0, 0.51, 0.02]))
    assert s[3] > s[2]


def test_paper_rule_measurement_runs_in_smoke_mode():
    """bench/paper_rule.py (the drawing-or-photograph rule of `images._paper`): every group measured; drawings cut
    by the frame are drawings and whole photographs are not."""
    from bench import paper_rule

    result = paper_rule.measure(6)
    assert result["outlines cut by the frame"]["drawing"] == 1.0 and result["digit, tight"]["drawing"] == 1.0
    assert result["photograph, whole"]["drawing"] == 0.0 and result["photograph, whole"]["n"] == 2
    assert paper_rule.table(result).count("\n") == len(result) + 1


def test_score_choice_rules_are_compared_on_halves_of_the_training_split():
    """bench/score_choice.py (which rule picks the one-class default): both rules and every candidate measured on
    the halves; the per-class rule can never be below the worst candidate, and the data-set rule equals a
    candidate's result in every round."""
    from bench import score_choice

    result = score_choice.main(["--smoke"])
    assert set(result) == {"per-class", "data-set", "combined", "pixel-knn", "hyperplane"}
    assert all(len(v) == 20 and ((v > 50) & (v <= 100)).all() for v in result.values())
    singles = np.stack([result[c] for c in ("combined", "pixel-knn", "hyperplane")])
    assert (np.isclose(singles, result["data-set"]).any(0)).all()
    assert (result["per-class"] >= singles.min(0) - 1e-9).all()
