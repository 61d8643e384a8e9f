import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_images
from latentlab.cli import main
from latentlab.presets import PRESETS


def test_presets_table_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out


def test_version_prints_the_package_version(capsys):
    from latentlab._version import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"latentlab {__version__}"
    out = subprocess.run([sys.executable, "-m", "latentlab", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"latentlab {__version__}"


def test_datasets_table_shows_the_bundled_samples(capsys):
    assert main(["datasets", "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample" in out and "fashion-mnist-sample" in out


def test_train_one_epoch_smoke_then_resume_extends(tmp_path, capsys):
    out_dir = tmp_path / "simple"
    args = ["train", "mnist-simple", "--dataset", "mnist-sample", "--epochs", "1", "--quiet", "--out", str(out_dir)]
    assert main(args) == 0
    assert "finished" in capsys.readouterr().out
    meta = json.loads((out_dir / "meta.json").read_text())
    assert meta["dataset"] == "mnist-sample" and meta["is_sample"] is True and meta["epochs_done"] == 1
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(out_dir), "--epochs", "2", "--quiet"]) == 0
    assert len((out_dir / "history.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    # Resuming a finished run says there is nothing to resume and how to train on, not "resuming at epoch 3".
    assert main(["train", "--resume", str(out_dir), "--epochs", "2"]) == 0
    said = "".join(capsys.readouterr())
    assert f"{out_dir} has done all its 2 epochs; nothing to resume" in said and "resuming" not in said
    assert f"latentlab train --resume {out_dir} --epochs N" in said
    assert len((out_dir / "history.jsonl").read_text().splitlines()) == 2
    # A resume that trains nothing writes nothing; fewer epochs than were done is refused, not written as the config.
    written = {name: (out_dir / name).read_bytes() for name in ("config.json", "meta.json", "state.json")}
    assert main(["train", "--resume", str(out_dir), "--epochs", "1"]) == 2  # refused before the data are loaded
    assert capsys.readouterr().err.strip() == (
        f"latentlab train: error: cannot resume {out_dir} with --epochs 1: it has done 2 epochs already; nothing was "
        f"written: to train on, resume with --epochs N, N above 2; to keep the run as it is, do not resume it "
        f"(see --resume)")
    assert main(["train", "--resume", str(out_dir), "--epochs", "2", "--quiet"]) == 0
    assert {name: (out_dir / name).read_bytes() for name in written} == written
    assert json.loads((out_dir / "config.json").read_text())["train"]["epochs"] == 2


def test_train_on_an_npz_with_overrides(bars, tmp_path):
    x_train, y_train, _, _ = bars
    np.savez(tmp_path / "bars.npz", x=x_train, y=y_train)
    out_dir = tmp_path / "vae"
    code = main(["train", "mnist-vae", "--dataset", str(tmp_path / "bars.npz"), "--epochs", "1", "--latent-dim", "3",
                 "--noise", "mask:0.2", "--set", "model.hidden=[16]", "--quiet", "--out", str(out_dir)])
    assert code == 0
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["model"]["latent_dim"] == 3 and cfg["model"]["hidden"] == [16]
    assert cfg["train"]["noise"] == {"kind": "mask", "factor": 0.2}


def test_a_relative_dataset_path_is_stored_absolute(bars, tmp_path, monkeypatch, capsys):
    # Trained with --dataset rel.npz in one directory, evaluated from another: the run must still find its data.
    x_train, y_train, _, _ = bars
    (tmp_path / "work").mkdir()
    np.savez(tmp_path / "work" / "rel.npz", x=x_train[:200], y=y_train[:200])
    monkeypatch.chdir(tmp_path / "work")
    run = tmp_path / "runs" / "rel"
    assert main(["train", "mnist-simple", "--dataset", "rel.npz", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == str(tmp_path / "work" / "rel.npz")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--no-membership", "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["dataset"] == "rel"


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "mnist-gan"], "unknown preset"),
    (["train", "mnist-simple", "--epochs", "0"], "error: --epochs 0 is invalid"),  # not train.epochs=0
    (["train", "mnist-simple", "--set", "train.epoch=3"], "unknown config field"),
    (["train", "--resume", "/nonexistent/run"], "missing"),
    (["train", "mnist-simple", "--dataset", "no-such-data"], "no-such-data"),
    # the element that is not an integer, not "must be a list"
    (["train", "mnist-simple", "--set", "model.hidden=[256,abc]"], "model.hidden[1]='abc' is invalid: expected int"),
    (["train", "mnist-simple", "--set", "model.hidden=[256,1.5]"], "model.hidden[1]=1.5 is invalid: expected int"),
])
def test_bad_options_give_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["plot", "point", "RUN", "--mark", "1e9", "nan"], "argument --mark: nan is not a finite number"),
    (["decode", "RUN", "inf", "0"], "argument x: inf is not a finite number"),
])
def test_a_latent_point_must_be_finite(argv, message, capsys):
    # Fault: plot point --mark 1e9 nan drew an empty panel "decoded at (1000000000.00, nan)".
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("key", "expected"), [
    ("foo.bar", "known at the top level: dataset, model.*, name, preset, profile, train.*"),
    ("trian.lr", "(did you mean train.lr?)"),
    ("train.epoch", "(did you mean train.epochs?); known in train: batch_size,"),
    ("train.noise.kindd", "(did you mean train.noise.kind?); known in train.noise: factor, kind"),
])
def test_an_unknown_set_field_lists_the_close_and_the_known_ones(key, expected, capsys):
    assert main(["train", "mnist-simple", "--set", f"{key}=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"unknown config field {key!r}" in err[0] and expected in err[0]
    assert f"--set {key}=VALUE" not in err[0]  # no advice to set the field that does not exist


def test_bad_noise_option_is_a_clear_error_naming_the_flag(capsys):
    assert main(["train", "mnist-simple", "--noise", "pink"]) == 2
    err = capsys.readouterr().err
    assert "error: --noise 'pink' is invalid" in err and "gaussian" in err and "train.noise" not in err


def test_library_errors_name_the_flags_on_the_command_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["train", "mnist-simple", "--set", "train.schedule=warm"]) == 2
    err = capsys.readouterr().err
    assert "error: --set train.schedule='warm' is invalid" in err


def test_a_bug_is_not_turned_into_a_one_line_error(monkeypatch):
    from latentlab.cli import commands

    def broken(args):
        raise ValueError("a bug")

    monkeypatch.setattr(commands, "cmd_presets", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["presets"])


@pytest.mark.slow
def test_torchrun_two_processes_matches_one_process(bars, tmp_path):
    """DDP over 2 gloo processes at the same global batch follows the single-process loss trajectory."""
    x_train, y_train, x_test, y_test = bars
    np.savez(tmp_path / "bars.npz", x=x_train, y=y_train, x_test=x_test, y_test=y_test)
    common = ["mnist-deep", "--dataset", str(tmp_path / "bars.npz"), "--epochs", "3", "--batch-size", "64",
              "--device", "cpu", "--quiet"]
    one = subprocess.run([sys.executable, "-m", "latentlab", "train", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--standalone", "-m", "latentlab", "train", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    h1 = [json.loads(line) for line in (tmp_path / "one" / "history.jsonl").read_text().splitlines()]
    h2 = [json.loads(line) for line in (tmp_path / "two" / "history.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "two" / "meta.json").read_text())["world_size"] == 2
    assert len(h1) == len(h2) == 3
    for a, b in zip(h1, h2, strict=True):
        # Same data order and same mean gradients; only float summation order differs.
        assert b["train"]["loss"] == pytest.approx(a["train"]["loss"], rel=1e-4)
        assert b["val"]["loss"] == pytest.approx(a["val"]["loss"], rel=1e-4)


@pytest.mark.parametrize("beta", [1, 100])
def test_train_says_once_at_the_end_when_the_posterior_collapsed(beta, mnist_small, one_thread, tmp_path, capsys):
    np.savez(tmp_path / "digits.npz", x=mnist_small.x_train, y=mnist_small.y_train)
    out_dir = tmp_path / "vae"
    assert main(["train", "mnist-vae", "--dataset", str(tmp_path / "digits.npz"), "--epochs", "4", "--batch-size",
                 "32", "--set", "model.hidden=[64]", "--set", f"model.beta={beta}", "--out", str(out_dir)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    warnings = [line for line in lines if line.startswith("latentlab train: warning:")]
    posterior = [line for line in lines if line.startswith("posterior: ")]
    assert len(posterior) == 1 and "validation images" in posterior[0]
    assert lines.index(posterior[0]) > max(i for i, line in enumerate(lines) if line.startswith("epoch "))
    if beta == 100:
        assert posterior[0].startswith("posterior: 0 of 2 latent units active")
        assert len(warnings) == 1 and "posterior collapsed: 0 of 2 latent units active" in warnings[0]
        assert "model.beta=100" in warnings[0]
    else:
        assert not warnings and not posterior[0].startswith("posterior: 0 of")
    assert captured.out.strip() == f"finished: {out_dir}"


def _copy_run(run, tmp_path, dataset: str):
    """A copy of a session fixture's run that reads `dataset`, so a command may write into it."""
    import shutil

    run_dir = shutil.copytree(run.path, tmp_path / run.name)
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "dataset": dataset}))
    return run_dir


def test_evaluate_and_generate_print_the_posterior_warnings(beta_runs, mnist_small, tmp_path, capsys):
    np.savez(tmp_path / "digits.npz", x=mnist_small.x_test, y=mnist_small.y_test)  # 425 train / 75 test images
    for beta, run in beta_runs.items():
        run_dir = _copy_run(run, tmp_path, str(tmp_path / "digits.npz"))
        assert main(["evaluate", str(run_dir), "--no-membership", "--iwae-k", "4", "--quiet"]) == 0
        evaluate = capsys.readouterr()
        assert main(["generate", str(run_dir), "-n", "4", "-o", str(tmp_path / "g.png")]) == 0
        generate = capsys.readouterr().err
        metrics = json.loads((run_dir / "metrics.json").read_text())["vae"]
        assert evaluate.err.splitlines() == [f"latentlab evaluate: warning: {w}" for w in metrics["warnings"]]
        expected = {0.0: "beta=0 trains a plain autoencoder", 1.0: None,
                    100.0: "posterior collapsed: 0 of 2 latent units active"}[beta]
        if expected is None:
            assert not evaluate.err and not generate and "warning" not in evaluate.out
        else:
            assert evaluate.err.startswith(f"latentlab evaluate: warning: {expected}")
            assert f"  warning: {expected}" in evaluate.out
            assert generate.startswith(f"latentlab generate: warning: {expected}")
            assert len(generate.splitlines()) == 1


def test_generate_without_the_dataset_on_disk_says_what_it_could_not_check(beta_runs, tmp_path, capsys):
    run_dir = _copy_run(beta_runs[0.0], tmp_path, str(tmp_path / "gone.npz"))
    assert main(["generate", str(run_dir), "-n", "4", "-o", str(tmp_path / "g.png")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("latentlab generate: note: ") and "posterior collapse was not checked" in err[0]
    assert err[1].startswith("latentlab generate: warning: beta=0 trains a plain autoencoder")


@pytest.mark.parametrize("n", ["0", "-5", "100000", "many"])
def test_generate_refuses_a_count_out_of_range_in_one_line(beta_runs, tmp_path, capsys, n):
    with pytest.raises(SystemExit) as exc:
        main(["generate", str(beta_runs[1.0].path), "-n", n, "-o", str(tmp_path / "g.png")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("latentlab generate: error: argument -n:") and "1 to 1,024" in err
    assert not (tmp_path / "g.png").exists()


def test_prior_samples_refuses_a_count_out_of_range(beta_runs):
    from latentlab.errors import ConfigError
    from latentlab.figures.from_runs import prior_samples

    for n in (0, -5, 100_000):
        with pytest.raises(ConfigError, match="n=.* 1 to 1,024"):
            prior_samples(beta_runs[1.0], n)


def test_generate_writes_the_format_its_suffix_names(beta_runs, tmp_path, capsys):
    run_dir = _copy_run(beta_runs[1.0], tmp_path, str(tmp_path / "gone.npz"))
    for name, magic in [("g.png", b"\x89PNG"), ("g.jpg", b"\xff\xd8\xff"), ("g.pdf", b"%PDF")]:
        assert main(["generate", str(run_dir), "-n", "2", "-o", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_bytes().startswith(magic)
    capsys.readouterr()
    assert main(["generate", str(run_dir), "-n", "2", "-o", str(tmp_path / "g.xyz")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("latentlab generate: error: ") and ".png" in err and "g.xyz" in err
    assert not (tmp_path / "g.xyz").exists()


@pytest.mark.parametrize("device", ["mps", "cuda", "cuda:7"])
def test_train_on_a_device_this_machine_lacks_says_which_it_has(tmp_path, capsys, device):
    import torch

    if (device == "mps" and torch.backends.mps.is_available()) or (device != "mps" and torch.cuda.device_count() > 7):
        pytest.skip(f"this machine has {device}")
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = ["train", "mnist-simple", "--dataset", "mnist-sample", "--epochs", "1", "--quiet", "--device", device,
            "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latentlab train: error: ")
    assert f"--device {device!r} is not available" in err[0] and "available: auto, cpu" in err[0]
    assert "device=" not in err[0] and "--no-auto" not in err[0]

@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_serve_refuses_a_port_out_of_range(capsys, port):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("latentlab serve: error: argument --port:") and "1 to 65535" in err


def test_serve_in_python_refuses_a_port_out_of_range(tmp_path):
    pytest.importorskip("fastapi")
    from latentlab.errors import ConfigError
    from latentlab.web.app import serve

    with pytest.raises(ConfigError, match="port=99999 is out of range"):
        serve([tmp_path], port=99999)


# ---- the flags an error names are the command's own ---------------------------------------------------------------
# Errors carry the name at fault (`exc.field`, and `exc.related`); the CLI maps each to the flag of the command that
# was run through one table derived from the parser (cli.flags.flag_table). Nothing reads the message.

# A minimal command line of every command that has options (its function is replaced by one that raises).
COMMANDS = {
    ("train",): ["train", "mnist-simple"],
    ("report",): ["report"],
    ("sweep",): ["sweep", "mnist-simple", "--set-grid", "train.lr=1e-3,3e-3"],
    ("plot",): ["plot", "recon", "RUN"],
    ("decode",): ["decode", "RUN", "0", "0"],
    ("generate",): ["generate", "RUN"],
    ("interpolate",): ["interpolate", "RUN", "a.png", "b.png"],
    ("detect",): ["detect", "RUN", "a.png"],
    ("evaluate",): ["evaluate", "RUN"],
    ("export",): ["export", "RUN"],
    ("benchmark", "one-class"): ["benchmark", "one-class", "--dataset", "mnist-sample"],
    ("benchmark", "localise"): ["benchmark", "localise", "--dataset", "mnist-sample"],
    ("serve",): ["serve"],
    ("datasets",): ["datasets"],
}
# Names errors carry that no command has a flag for, on purpose: Python arguments (an array, a Layout, a detector's
# parameters), positionals (a run directory or image is typed as itself; `run` is a flag of benchmark localise only)
# and config sections; and OMP_NUM_THREADS, OMP_WAIT_POLICY, GOMP_SPINCOUNT: environment variables their
# messages name (unset or set them).
NO_FLAG = {"GOMP_SPINCOUNT", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "a", "assignments", "config", "fn", "holdout",
           "images", "k", "kind", "labels", "layout", "layout.by", "layout.objects", "model", "path", "projection",
           "run_dir", "runs", "shape", "target_fpr", "x", "x_train", "y_train"}


def _error_fields() -> set[str]:
    """Every name an error of src/ carries as a literal: field= and related= keywords, choose()'s field argument."""
    import ast
    from pathlib import Path

    names: set[str] = set()
    for path in (Path(__file__).parents[1] / "src" / "latentlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
            values = [k.value for k in node.keywords if k.arg in ("field", "related")]
            values += node.args[2:3] if callee == "choose" else node.args[:1] if callee == "check_count" else []
            for value in values:
                for item in (value.elts if isinstance(value, ast.Tuple) else [value]):
                    if isinstance(item, ast.Constant) and isinstance(item.value, str):
                        names.add(item.value)
    return names


def _parsers() -> dict[tuple[str, ...], object]:
    import argparse

    from latentlab.cli.parser import build_parser

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
        for action in subs:
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))

    return dict(walk(build_parser(), ()))


def _table(*command: str) -> dict[str, str]:
    from latentlab.cli.flags import flag_table

    return flag_table(_parsers()[command])


def _carried_and_flagged() -> list[tuple[tuple[str, ...], str]]:
    fields = _error_fields()
    return [(command, name) for command in COMMANDS for name in sorted(fields & set(_table(*command)))]


def test_the_commands_listed_here_are_the_parsers_commands():
    assert set(COMMANDS) | {("presets",)} == set(_parsers())


def test_every_field_an_error_carries_is_a_flag_a_config_field_or_python_only():
    from latentlab.cli.flags import config_fields

    fields = {n for n in _error_fields() if not n.startswith("--")}  # the CLI's own errors name their flag
    flagged = {name for command in COMMANDS for name in _table(*command)}
    assert len(fields) > 40
    assert not sorted(fields - flagged - set(config_fields()) - NO_FLAG)
    assert not NO_FLAG & flagged  # a name listed as flagless here has since got a flag: drop it from NO_FLAG


@pytest.mark.parametrize(("command", "name"), _carried_and_flagged(), ids=lambda v: " ".join(v) if isinstance(
    v, tuple) else v)
def test_the_cli_message_names_the_flag_of_each_field_an_error_carries(command, name, capsys, monkeypatch):
    # In the message's own words: no Python name is printed where the command has a flag for it.
    from latentlab.cli import parser as parser_module
    from latentlab.errors import ConfigError

    real = parser_module.build_parser
    message = []

    def fails(args):
        raise ConfigError(message[0], field=name)

    def raising(chosen=None):
        parser = real(chosen)
        for sub in _subparsers(parser):
            sub.set_defaults(func=fails)
        return parser

    monkeypatch.setattr(parser_module, "build_parser", raising)
    flag = _table(*command)[name]
    said = {"off": "False", "on": "True"}.get(flag.kind, "7")
    for text, expected in ((f"it is wrong: pass {name}={said}", f"it is wrong: pass {flag.says(said)}"),
                           ("it is wrong", f"it is wrong (see {flag.says()})")):
        message[:] = [text]
        assert main(COMMANDS[command]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"latentlab {command[0]}: error: {expected}"
        rest = err.replace(flag.says(said), "").replace(flag.says(), "")
        assert flag.says().startswith("-") and f"{name}=" not in rest
        assert "_" not in name and "." not in name or name not in rest


def test_error_messages_are_rewritten_in_flags():
    # The messages of issue 26 as the CLI printed them: the text named the Python field, a note the flag.
    from latentlab.cli.flags import with_flags
    from latentlab.errors import DataChangedError, RunError, TrainingError

    train = _table("train")
    changed = DataChangedError("cannot resume r on other training images; resume with the data it was trained on "
                               "(the same dataset, folder and data_dir), or start a new run; to go on with them all "
                               "the same, resume with allow_data_change=True, which the run's history records",
                               field="resume", related=("dataset", "data_dir", "allow_data_change"))
    assert with_flags(changed, train) == (
        "cannot resume r on other training images; resume with the data it was trained on (the same dataset, folder "
        "and --data-dir), or start a new run; to go on with them all the same, resume with --allow-data-change, "
        "which the run's history records (see --resume, --dataset)")
    diverged = TrainingError("the loss became nan: lower the learning rate (train.lr, now 0.1) or set a gradient "
                             "clip (train.grad_clip)", field="train.lr", related=("train.grad_clip",))
    assert with_flags(diverged, train) == ("the loss became nan: lower the learning rate (--lr, now 0.1) or set a "
                                           "gradient clip (--set train.grad_clip=VALUE)")
    broken = RunError("retrain with a lower learning rate (train.lr)", field="train.lr")
    assert with_flags(broken, _table("detect")) == "retrain with a lower learning rate (train.lr)"  # no --lr there
    epochs = TrainingError("cannot resume r with train.epochs=9: resume with train.epochs=5, or start a new run",
                           field="train.epochs", related=("resume",))
    assert with_flags(epochs, train) == \
        "cannot resume r with --epochs 9: resume with --epochs 5, or start a new run (see --resume)"


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_error_notes_name_only_flags_the_command_has():
    from latentlab.cli.flags import with_flags
    from latentlab.errors import ConfigError, DatasetError

    train, evaluate, serve = _table("train"), _table("evaluate"), _table("serve")
    assert with_flags(ConfigError("name a preset", field="preset"), train) == "name a preset"  # a positional
    assert with_flags(ConfigError("pass auto=False", field="auto"), train) == "pass --no-auto"
    assert with_flags(ConfigError("pass auto=False", field="auto"), evaluate) == "pass auto=False"
    assert with_flags(ConfigError("device='x'", field="device"), train) == "--device 'x'"
    assert with_flags(ConfigError("the device is x", field="device"), train) == "the device is x (see --device)"
    assert with_flags(ConfigError("bad", field="train.lr"), train) == "bad (see --lr)"
    assert with_flags(ConfigError("bad", field="train.schedule"), train) == "bad (see --set train.schedule=VALUE)"
    assert with_flags(ConfigError("train.schedule='x'", field="train.schedule"), train) == \
        "--set train.schedule='x'"
    assert with_flags(ConfigError("bad", field="train.schedule"), evaluate) == "bad"  # evaluate has no --set
    both = DatasetError("pass dataset=X or data_dir=DIR.", field="dataset", related=("data_dir",))
    assert with_flags(both, evaluate) == "pass --dataset X or --data-dir DIR."
    assert with_flags(both, serve) == "pass dataset=X or data_dir=DIR."
    assert with_flags(ConfigError("classes=[7]", field="classes"), _table("benchmark", "one-class")) == \
        "--classes [7]"
    assert with_flags(ConfigError("classes=[7]", field="classes"), train) == "classes=[7]"
    assert with_flags(ConfigError("--seeds 0 is invalid", field="--seeds"), _table("benchmark", "one-class")) == \
        "--seeds 0 is invalid"  # the CLI's own errors name their flag already
    assert with_flags(ConfigError("bad grid: seeds=N sets the seeds", field="grid", related=("seeds",)),
                      _table("sweep")) == "bad grid: --seeds N sets the seeds (see --set-grid)"
    # A name the error does not carry is rewritten where the message gives it a value (issue 26: detect said
    # "pass dataset=PATH"), not where prose uses the word.
    changed = ConfigError("the dataset has changed: pass dataset=PATH of a copy, or allow_data_change=True",
                          field="allow_data_change")
    assert with_flags(changed, _table("detect")) == \
        "the dataset has changed: pass --dataset PATH of a copy, or --allow-data-change"
    assert with_flags(changed, serve) == str(changed)  # serve has neither flag


def test_a_train_error_hints_no_flag_train_lacks(capsys):
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert "--presets" not in err and "on the command line" not in err


def test_every_argument_of_every_command_has_help():
    import argparse

    from latentlab.cli.parser import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, p in action.choices.items():
                    walk(p, f"{name} {sub}")
            elif not action.help:
                missing.append(f"{name} {action.option_strings or action.dest}")

    for command in ("train", "plot", "detect", "export", "evaluate"):
        walk(build_parser(command), "latentlab")
    assert not missing


def test_plot_help_lists_the_figures_instead_of_pointing_at_itself(capsys):
    from latentlab.figures.from_runs import PLOTS

    with pytest.raises(SystemExit):
        main(["plot", "--help"])
    out = capsys.readouterr().out
    assert "latentlab plot --help" not in out and all(kind in out for kind in PLOTS)


# ---- a data set without test images -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["mnist-simple", "mnist-vae"])
def test_every_plot_of_a_run_it_does_not_fit_is_a_one_line_error_not_a_traceback(preset, bars, tmp_path, capsys):
    # Fault: `plot classes` on a run that is not conditional raised AttributeError while building its own error.
    from latentlab.figures.from_runs import PLOTS

    path = tmp_path / "bars.npz"
    np.savez(path, x=bars[0][:128], y=bars[1][:128], x_test=bars[2][:64], y_test=bars[3][:64])
    run = tmp_path / "run"
    assert main(["train", preset, "--dataset", str(path), "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    refused = {}
    for kind in PLOTS:
        code = main(["plot", kind, str(run), "-o", str(tmp_path / f"{kind}.png")])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err, (kind, err)
        if code == 2:
            refused[kind] = err.strip()
            assert len(refused[kind].splitlines()) == 1 and refused[kind].startswith("latentlab plot: error:"), err
        else:
            assert (tmp_path / f"{kind}.png").stat().st_size > 0
    assert "is not conditional: the classes figure needs a conditional VAE" in refused["classes"]
    if preset == "mnist-simple":
        assert "latentlab generate RUN --sampler gmm" in refused["samples"]
        (run / "history.jsonl").write_text("")  # as a run stopped during its first epoch has it
        assert main(["plot", "curves", str(run), "-o", str(tmp_path / "c.png")]) == 2
        assert capsys.readouterr().err.strip() == (
            f"latentlab plot: error: run has no finished epoch yet (it was stopped during its first), so it has no "
            f"curves; train on with `latentlab train --resume {run}`")


def test_blank_training_images_are_counted_and_said_even_when_quiet(bars, tmp_path, capsys):
    # Fault: a folder of 24 blank pages trained without a word, into a detector that accepts blank pages.
    x = bars[0][:64].copy()
    x[:10] = 0  # blank as the image pipeline makes them
    x[10:13] = 237 + np.arange(3)[:, None, None] % 2  # a flat grey page with a level of noise
    path = tmp_path / "some-blank.npz"
    np.savez(path, x=x, x_test=bars[2][:16])
    argv = ["train", "mnist-simple", "--dataset", str(path), "--epochs", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert ("warning: 13 of 64 training images of some-blank are blank (nothing stands out from the background): "
            "the model learns them as data, and its detector will call blank pages part of the data set; remove "
            "them from the data") in err
    np.savez(path, x=bars[0][:64], x_test=bars[2][:16])
    assert main([*argv, "--out", str(tmp_path / "clean")]) == 0
    assert "blank" not in capsys.readouterr().err


def test_a_dataset_without_test_images_is_said_up_front_by_train_evaluate_and_plot(bars, tmp_path, capsys):
    path = tmp_path / "no-test.npz"
    np.savez(path, x=bars[0][:64], x_test=bars[2][:0])
    run = tmp_path / "run"
    assert main(["train", "mnist-simple", "--dataset", str(path), "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "warning: no-test has no test images, so the run trains without a validation loss" in err
    assert main(["evaluate", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no-test has no test images (its test split is empty)" in err and "x_test" in err
    assert "Traceback" not in err and not (run / "metrics.json").exists()
    for kind in ("recon", "denoise", "latent"):
        assert main(["plot", kind, str(run)]) == 2
        err = capsys.readouterr().err
        assert f"the {kind} figure shows test images and no-test has none" in err and "curves" in err
    assert main(["plot", "curves", str(run)]) == 0  # what needs no test images still works


def test_too_few_training_images_for_a_detector_skip_membership_and_detect_says_what_to_do(bars, tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "small.npz"
    np.savez(path, x=bars[0][:15], x_test=bars[2][:10])
    run = tmp_path / "run"
    assert main(["train", "mnist-simple", "--dataset", str(path), "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    # which weights the numbers are of, so that a later resume cannot leave them standing as the run's
    assert metrics["weights_sha256"] == json.loads((run / "meta.json").read_text())["files"]["model.safetensors"]
    skipped = metrics["membership_skipped"]
    assert skipped.startswith("the novelty detectors could not be fitted on the 15 training images")
    assert skipped.endswith("train the run on more images to measure membership")
    Image.fromarray(bars[2][0]).save(tmp_path / "digit.png")
    capsys.readouterr()
    assert main(["detect", str(run), str(tmp_path / "digit.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("the combined detector cannot be fitted on the run's 15 training images (--score 'combined' needs at "
            "least 20 images to set its threshold on (each scored against the others); got 15); train the run on a "
            "data set with that many images or more") in err
    assert "pass more images" not in err


def test_output_into_a_closed_pipe_ends_quietly():
    # `latentlab presets | head -1`: the reader goes away; no BrokenPipeError traceback, like a Unix tool.
    proc = subprocess.Popen([sys.executable, "-m", "latentlab", "presets"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has written anything: it starts in a fraction of a second at best
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


def test_resume_with_a_preset_or_profile_is_refused_not_ignored(tmp_path, capsys):
    assert main(["train", "mnist-vae", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the preset 'mnist-vae' would be ignored; drop it to resume" in err
    assert main(["train", "--profile", "full", "--resume", str(tmp_path)]) == 2
    assert "--profile full would be ignored" in capsys.readouterr().err


def test_detect_on_a_run_trained_from_python_asks_for_its_data_instead_of_downloading(bars, tmp_path, monkeypatch,
                                                                                      capsys):
    from dataclasses import replace

    from PIL import Image

    from latentlab.config import override
    from latentlab.data.registry import DATASETS
    from latentlab.presets import preset_config
    from latentlab.training import train

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(DATASETS, "mnist", replace(DATASETS["mnist"], system_dirs=()))
    monkeypatch.setattr("latentlab.data.download.download", lambda *a, **k: pytest.fail("downloaded"))
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.device": "cpu"})  # dataset "mnist"
    train(cfg, bars[0], bars[2], tmp_path / "run", quiet=True)
    Image.fromarray(bars[2][0]).save(tmp_path / "digit.png")
    assert main(["detect", str(tmp_path / "run"), str(tmp_path / "digit.png")]) == 2
    err = capsys.readouterr().err
    assert "trained on in-memory arrays" in err and "pass --dataset NAME_OR_PATH" in err and "dataset=" not in err
    assert err.count("trained on in-memory arrays") == 1  # the error, not also a notice before it
    np.savez(tmp_path / "bars.npz", x=bars[0], y=bars[1], x_test=bars[2], y_test=bars[3])
    assert main(["detect", str(tmp_path / "run"), str(tmp_path / "digit.png"), "--quiet", "--dataset",
                 str(tmp_path / "bars.npz")]) == 0


def test_detect_on_a_run_whose_data_changed_or_moved_names_the_flags(bars, tmp_path, capsys):
    from PIL import Image

    data, run, digit = tmp_path / "bars.npz", tmp_path / "run", tmp_path / "digit.png"
    np.savez(data, x=bars[0][:256], y=bars[1][:256], x_test=bars[2][:64], y_test=bars[3][:64])
    assert main(["train", "mnist-simple", "--dataset", str(data), "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    Image.fromarray(bars[2][0]).save(digit)
    np.savez(data, x=bars[0][256:], y=bars[1][256:], x_test=bars[2][:64], y_test=bars[3][:64])  # other images
    assert main(["detect", str(run), str(digit), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "(or pass --dataset PATH of a copy of them), or pass --allow-data-change to fit" in err, err
    assert "dataset=" not in err and "allow_data_change" not in err
    data.rename(tmp_path / "moved.npz")
    assert main(["detect", str(run), str(digit), "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"{run} was trained on {data}, which is not there any more (moved or deleted): pass --dataset NEW_PATH, the "
        "folder or .npz where those training images are now")


def test_a_class_for_a_model_without_classes_names_the_flag(bars, tmp_path, capsys):
    from PIL import Image

    data, run = tmp_path / "bars.npz", tmp_path / "run"
    np.savez(data, x=bars[0][:256], x_test=bars[2][:64])
    assert main(["train", "mnist-simple", "--dataset", str(data), "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    for i in range(2):
        Image.fromarray(bars[2][i]).save(tmp_path / f"{i}.png")
    capsys.readouterr()
    assert main(["interpolate", str(run), str(tmp_path / "0.png"), str(tmp_path / "1.png"), "--class", "1",
                 "-o", str(tmp_path / "i.png")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "latentlab interpolate: error: --class 1 needs a conditional model (model.kind='cvae'); this one is a "
        "DenseAutoencoder, which decodes no class on request")
    assert main(["generate", str(run), "--sampler", "gmm", "--class", "1", "-o", str(tmp_path / "g.png")]) == 2
    assert "latentlab generate: error: --class 1 needs a conditional model" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["report", "--jobs", "0"], ["sweep", "mnist-simple", "--jobs", "-1"], ["benchmark", "one-class", "--jobs", "0"],
    ["benchmark", "one-class", "--threads", "two"], ["evaluate", "runs/x", "--iwae-k", "0"],
])
def test_counts_below_one_are_refused_by_the_flag_before_any_work(argv, capsys):
    # `benchmark one-class --jobs 0` used to run (as --jobs 1); `evaluate --iwae-k 0` ended in ZeroDivisionError.
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and f"argument {argv[-2]}:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["plot", "recon", "RUN"], ["decode", "RUN", "0", "0"], ["generate", "RUN"],
                                     ["interpolate", "RUN", "a.png", "b.png"]])
def test_an_output_file_in_a_missing_folder_is_refused_naming_it(command, tmp_path, capsys):
    missing = tmp_path / "missing" / "dir"
    with pytest.raises(SystemExit) as caught:
        main([*command, "-o", str(missing / "x.png")])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert (f"argument -o/--output: the folder {missing} does not exist; create it first (mkdir -p {missing}) or "
            "write into a folder that exists") in err
    assert not (tmp_path / "missing").exists()  # nothing made on the way


def test_output_folders_latentlab_owns_are_made_and_files_in_existing_folders_are_taken(tmp_path):
    from latentlab.cli.parser import build_parser

    owned = tmp_path / "a" / "b"
    cases = [(["export", "RUN", "-o", str(owned)], "output"), (["detect", "RUN", "x.png", "--explain", str(owned)],
             "explain"), (["report", "--out", str(owned)], "out"), (["train", "mnist-simple", "--out", str(owned)],
             "out"), (["train", "mnist-simple", "--tensorboard", str(owned)], "tensorboard"),
             (["sweep", "mnist-simple", "--set-grid", "train.lr=1,2", "--out", str(owned)], "out"),
             (["plot", "recon", "RUN", "-o", str(tmp_path / "x.png")], "output")]
    for argv, dest in cases:
        args = build_parser(argv[0]).parse_args(argv)
        assert getattr(args, dest) == argv[argv.index(getattr(args, dest))], argv
    assert not (tmp_path / "a").exists()  # made only when written (detect --explain, export, ...)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(SystemExit):
        build_parser("export").parse_args(["export", "RUN", "-o", str(afile)])
    with pytest.raises(SystemExit):
        build_parser("plot").parse_args(["plot", "recon", "RUN", "-o", str(tmp_path)])  # a folder, not a file


def test_a_conditional_preset_on_unlabelled_images_says_what_to_give_in_cli_terms(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i, image in enumerate(make_images(12, seed=3)[0]):
        Image.fromarray(image).save(folder / f"{i}.png")
    assert main(["train", "mnist-cvae", "--dataset", str(folder), "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("latentlab train: error: mnist-cvae is a conditional model (cvae): it trains on class "
                          "labels, and flat has none")
    assert "give it one subfolder per class (flat/<class>/*.png) or an .npz with y and y_test" in err
    assert "y_train" not in err and "y_val" not in err and "Traceback" not in err
    labelled = tmp_path / "twelve"
    for i, image in enumerate(make_images(24, seed=4)[0]):
        (labelled / f"c{i % 12}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(labelled / f"c{i % 12}" / f"{i}.png")
    assert main(["train", "mnist-cvae", "--dataset", str(labelled), "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "trains on class labels, 10 of them, and twelve has 12 classes: pass --set model.n_classes=12" in err
    assert "y_train" not in err


def test_a_mistyped_flag_shows_the_commands_usage_and_the_closest_flag(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["train", "mnist-simple", "--epochz", "2"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: latentlab train ")
    assert "latentlab train: error: unrecognized arguments: --epochz 2 (did you mean --epochs?)" in err
    with pytest.raises(SystemExit):
        main(["benchmark", "localise", "--dataset", "mnist-sample", "--stepz", "2"])
    assert "latentlab benchmark localise: error: unrecognized arguments: --stepz 2 (did you mean --steps?)" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["train", "mnist-simple", "--epochz", "2", "--lrr=0.1"])
    assert ("unrecognized arguments: --epochz 2 --lrr=0.1 (did you mean: --epochz -> --epochs, --lrr -> --lr?)"
            in capsys.readouterr().err)
