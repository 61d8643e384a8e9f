import html
import json
import re

import pytest

from latentlab.cli import main
from latentlab.errors import ConfigError
from latentlab.report import build_report

TINY = {"train.epochs": 1, "train.batch_size": 512}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    # One torch thread, as each of two workers has on two cores: the jobs=2 report below must match it bit for bit.
    page = build_report(out, presets=["mnist-denoise", "mnist-vae"], overrides=TINY, iwae_k=4, progress=False,
                        jobs=1, threads=1)
    return out, page


@pytest.mark.slow
def test_report_has_every_figure_and_table(report):
    out, page = report
    html = page.read_text()
    assert html.count("<img") == len(list((out / "figures").glob("*.png")))
    for kind in ("recon", "denoise", "curves", "latent"):
        assert (out / "figures" / f"mnist-denoise-{kind}.png").is_file()
    for kind in ("recon", "curves", "latent", "manifold", "samples", "point", "explain"):
        assert (out / "figures" / f"mnist-vae-{kind}.png").is_file()
    assert "the most and least typical test images and the most novel image" in html
    # self-contained: figures are data URIs and nothing is fetched from the network
    assert not re.search(r'src="(?!data:)', html) and "http://" not in html.replace("http://www.w3.org", "")
    assert "1.3 A denoising autoencoder" in html and "1.4 A variational autoencoder" in html
    assert "bundled sample" in html and "Is this image part of the data set?" in html
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["runs"]) == {"mnist-denoise", "mnist-vae"}
    assert summary["runs"]["mnist-vae"]["vae"]["elbo"] < 0


@pytest.mark.slow
def test_report_reuses_finished_runs(report):
    out, _ = report
    before = (out / "runs" / "mnist-vae" / "model.safetensors").stat().st_mtime_ns
    build_report(out, presets=["mnist-vae"], overrides=TINY, iwae_k=4, progress=False)
    assert (out / "runs" / "mnist-vae" / "model.safetensors").stat().st_mtime_ns == before
    assert "reused a finished run" in (out / "index.html").read_text()


def _numbers(metrics: dict) -> dict:
    """metrics.json's runs without what differs between two identical builds (timestamps, timings)."""
    return {name: {k: v for k, v in m.items() if k not in ("created", "timings_s")} for name, m in metrics.items()}


@pytest.mark.slow
def test_report_with_two_jobs_reports_a_failed_experiment_then_completes_it_with_the_same_numbers(report, tmp_path):
    out, _ = report
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mnist-vae").write_text("in the way")  # this experiment cannot write its run directory
    page = build_report(tmp_path, presets=["mnist-denoise", "mnist-vae"], overrides=TINY, iwae_k=4,
                        progress=False, jobs=2, threads=1)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert list(summary["runs"]) == ["mnist-denoise"]
    assert summary["failed"]["mnist-vae"]["status"] is None
    error = summary["failed"]["mnist-vae"]["error"]
    assert error == f"RunError: {tmp_path / 'runs' / 'mnist-vae'} is a file, not a run directory; move it away or " \
        "write the run elsewhere"
    html = page.read_text()
    assert "Experiments that failed" in html and "is a file, not a run directory" in html and "1.3 A denoising" in html
    assert "1.4 A variational autoencoder" not in html

    (tmp_path / "runs" / "mnist-vae").unlink()
    denoise = tmp_path / "runs" / "mnist-denoise" / "model.safetensors"
    before = denoise.stat().st_mtime_ns
    build_report(tmp_path, presets=["mnist-denoise", "mnist-vae"], overrides=TINY, iwae_k=4, progress=False,
                 jobs=2, threads=1)
    assert denoise.stat().st_mtime_ns == before  # the finished run was reused, only the missing one trained
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert again["failed"] == {} and "Experiments that failed" not in page.read_text()
    alone = {p: json.loads((out / "runs" / p / "metrics.json").read_text()) for p in ("mnist-denoise", "mnist-vae")}
    assert _numbers(again["runs"]) == _numbers(alone)


def test_report_checks_jobs_and_executor(tmp_path, capsys):
    for flag, value in (("--jobs", "0"), ("--threads", "abc"), ("--iwae-k", "-5")):
        with pytest.raises(SystemExit) as exc:
            main(["report", "--out", str(tmp_path), "--presets", "mnist-vae", flag, value, "--quiet"])
        assert exc.value.code == 2 and f"argument {flag}:" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path), "--presets", "mnist-vae", "--executor", "x", "--quiet"]) == 2
    assert "dask://HOST:PORT" in capsys.readouterr().err


def test_report_rejects_unknown_presets(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--presets", "mnist-gan"]) == 2
    assert "choose from" in capsys.readouterr().err


@pytest.mark.slow
def test_figure_commands_on_the_report_runs(report, tmp_path):
    out, _ = report
    vae = str(out / "runs" / "mnist-vae")
    assert main(["decode", vae, "-1", "3", "-o", str(tmp_path / "d.png")]) == 0
    assert main(["generate", vae, "-n", "8", "-o", str(tmp_path / "g.png")]) == 0
    for kind in ("recon", "curves", "latent", "manifold", "point", "explain"):
        assert main(["plot", kind, vae, "-o", str(tmp_path / f"{kind}.png")]) == 0
    assert all((tmp_path / f"{k}.png").stat().st_size > 1000 for k in ("d", "g", "recon", "manifold", "explain"))
    assert main(["decode", str(out / "runs" / "mnist-denoise"), "0", "0", "-o", str(tmp_path / "x.png")]) == 2


@pytest.mark.slow
def test_detect_and_evaluate_commands(report, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from latentlab.data import load_dataset

    out, _ = report
    vae = out / "runs" / "mnist-vae"
    digit = load_dataset("mnist-sample", progress=False).x_test[0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "n.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    # A detector saved by an older format is refitted, never misread.
    info = json.loads((vae / "detector.json").read_text())
    (vae / "detector.json").write_text(json.dumps({**info, "format": 1}))
    assert main(["detect", str(vae), str(tmp_path / "digit.png"), str(tmp_path / "n.png"), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "threshold" in lines[0] and "in (like" in lines[2] and "OUT" in lines[3]
    assert json.loads((vae / "detector.json").read_text())["format"] == info["format"]
    assert main(["detect", str(vae), str(tmp_path / "bad.png")]) == 2
    assert "bad.png is not an image in a supported format" in capsys.readouterr().err
    assert main(["evaluate", str(vae), "--iwae-k", "4", "--no-membership", "--quiet"]) == 0
    assert json.loads((vae / "metrics.json").read_text())["membership"] is None


@pytest.mark.parametrize("beta", [0.0, 1.0, 100.0])
def test_vae_table_shows_the_posterior_and_each_warning_in_a_note(beta, beta_runs, mnist_small):
    from latentlab.analysis.evaluate import compute_metrics
    from latentlab.report.html import metric_tables

    metrics = compute_metrics(beta_runs[beta], mnist_small, iwae_k=4, membership=False, progress=False)
    vae = metrics["vae"]
    page = metric_tables(metrics)
    active = f"<td>active latent units (posterior-mean variance &gt; 0.01)</td><td>{vae['active_units']} of 2</td>"
    assert active in page
    kl = ", ".join(f"{v:.3g}" for v in vae["kl_per_dim"])
    assert f"<td>KL per latent unit</td><td>{kl}</td>" in page
    notes = re.findall(r'<div class="note">(.*?)</div>', page)
    assert notes == [html.escape(w) for w in vae["warnings"]] and len(notes) == {0.0: 1, 1.0: 0, 100.0: 1}[beta]
    if beta == 100:
        assert notes[0].startswith("posterior collapsed: 0 of 2 latent units active")
    if beta == 0:
        assert notes[0].startswith("beta=0 trains a plain autoencoder")


def test_report_has_the_one_class_benchmark_and_reuses_it(one_class_npz, tmp_path, monkeypatch):
    from latentlab.report import experiments

    monkeypatch.setattr(experiments, "BENCHMARK_DATA", one_class_npz)
    monkeypatch.setattr(experiments, "BENCHMARK_STEPS", 3)
    monkeypatch.setattr(experiments, "BENCHMARK_CLASSES", {"quick": (0, 2), "full": None})
    page = build_report(tmp_path, "quick", presets=["one-class"], progress=False)
    html = page.read_text()
    assert "3 One-class novelty detection" in html and html.count("<img") == 1
    assert "raw-pixel 5-NN distance" in html and "measured now" in html
    saved = tmp_path / "benchmark" / "one-class-toy.json"
    assert json.loads(saved.read_text())["settings"]["classes"] == [0, 2]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["benchmarks"]["one-class"]["classes"] == [0, 2] and summary["runs"] == {}
    before = saved.stat().st_mtime_ns
    build_report(tmp_path, "quick", presets=["one-class"], progress=False)
    assert saved.stat().st_mtime_ns == before and "reused from an earlier report" in page.read_text()


def test_each_experiment_line_heads_its_own_epoch_lines_when_run_here(tmp_path, capsys, monkeypatch):
    # Run one after another in this process, each experiment prints "[1.3] mnist-denoise on ..." itself, just before
    # its training lines; the loop printed all of them first, then every experiment's epochs.
    from latentlab.report import experiments, tasks

    seen = []

    def fake_run_tasks(fn, todo, **kwargs):
        for task in todo:
            seen.append(capsys.readouterr().err)  # what was printed before this task started
            monkeypatch.setattr(tasks, "dataset", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
            with pytest.raises(KeyboardInterrupt):
                fn(task)
            seen.append(capsys.readouterr().err)
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_tasks", fake_run_tasks)
    with pytest.raises(KeyboardInterrupt):
        build_report(tmp_path, presets=["mnist-denoise", "mnist-vae"], overrides=TINY, progress=True, jobs=1)
    assert "] mnist-denoise on" not in seen[0] and "] mnist-vae on" not in seen[0]
    assert seen[1].startswith("[1.3] mnist-denoise on") and seen[3].startswith("[1.4] mnist-vae on")


@pytest.mark.parametrize("kwargs, name", [({"jobs": 0}, "jobs=0"), ({"threads": -1}, "threads=-1"),
                                          ({"iwae_k": 0}, "iwae_k=0"), ({"data_dir": "/no/such/folder"}, "data_dir=")])
def test_report_refuses_bad_arguments_before_it_loads_or_writes_anything(kwargs, name, tmp_path):
    out = tmp_path / "report"
    with pytest.raises(ConfigError, match=re.escape(name)):
        build_report(out, presets=["mnist-simple"], progress=False, **kwargs)
    assert not out.exists()  # a missing data folder used to fall back to the bundled samples, silently
