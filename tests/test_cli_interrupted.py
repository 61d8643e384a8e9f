"""Ctrl-C on the command line: every interruption says what was kept and the exact command that goes on."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentlab.cli import main

# `latentlab train` whose data loading blocks until it is interrupted: SIGINT lands before the first checkpoint.
BLOCKED = """
import sys, time
import latentlab.data
def blocked(*args, **kwargs):
    print("loading", flush=True)
    time.sleep(60)
latentlab.data.load_dataset = blocked
from latentlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _with_ctrl_c() -> None:
    """Popen's preexec_fn: Ctrl-C as a terminal gives it. A command started in the background by a shell without job
    control (how CI ran `make test`) inherits SIGINT ignored, and Python then keeps ignoring it: the child slept on
    and the test timed out."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(proc: subprocess.Popen, ready) -> tuple[str, str]:
    try:
        deadline = time.monotonic() + 90
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=60)
    finally:
        proc.kill()


def test_ctrl_c_before_the_first_checkpoint_says_nothing_was_kept_and_to_run_it_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["train", "mnist-simple", "--dataset", "mnist-sample", "--epochs", "1", "--out", str(run)]
    proc = subprocess.Popen([sys.executable, "-c", BLOCKED, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_with_ctrl_c)
    out, err = _interrupt(proc, lambda: proc.stdout.readline().strip() == "loading")
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"latentlab train: interrupted before the first checkpoint: nothing was kept in {run}; to start again, run "
        f"the same command: latentlab {shlex.join(argv)}")
    assert not (run / "state.json").exists() and "Traceback" not in err


def test_ctrl_c_after_a_checkpoint_names_it_and_the_resume_command(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "latentlab", "train", "mnist-simple", "--dataset", "mnist-sample",
                             "--epochs", "100000", "--batch-size", "8", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_with_ctrl_c)
    out, err = _interrupt(proc, lambda: (run / "meta.json").exists())  # one epoch saved: the loop is running
    assert proc.returncode == 130, err
    state = json.loads((run / "state.json").read_text())
    assert json.loads((run / "meta.json").read_text())["status"] == "interrupted"
    kept = (f"the checkpoint at step {state['step']} of epoch {state['epoch'] + 1}" if state["step"] else
            f"the checkpoint after epoch {state['epoch']}")
    assert state["epoch"] >= 1 and err.strip().splitlines()[-1] == (
        f"latentlab train: interrupted: {kept} is kept in {run}; to go on from it: latentlab train --resume {run}")
    # Said once, in the last line: not also "interrupted: checkpoint saved in RUN" or "interrupted: RUN" before it.
    assert out == "" and [line for line in err.splitlines() if "interrupted" in line] == [err.splitlines()[-1]], err


@pytest.mark.parametrize(("argv", "said"), [
    (["detect", "RUN", "a.png"], "interrupted before its output was written: nothing was kept; to do it, run the "
                                 "same command again: latentlab detect RUN a.png"),
    (["report", "--presets", "mnist-simple"], "interrupted: the runs that finished are kept, and the checkpoint of "
     "the one that was training; to go on, run the same command again (it reuses and resumes them): latentlab "
     "report --presets mnist-simple"),
    (["train", "--resume", "no run here", "--data-dir", "d"], "interrupted before the first checkpoint: nothing was "
     "kept in no run here; to start again, run the same command: latentlab train --resume 'no run here' --data-dir d"),
])
def test_every_command_says_what_an_interruption_kept(argv, said, capsys, monkeypatch) -> None:
    from latentlab.cli import parser as parser_module

    real = parser_module.build_parser

    def interrupted(args):
        raise KeyboardInterrupt

    def interrupting(chosen=None):
        parser = real(chosen)
        for action in parser._actions:
            for sub in getattr(action, "choices", None) or {}:
                if isinstance(action.choices, dict):
                    action.choices[sub].set_defaults(func=interrupted)
        return parser

    monkeypatch.setattr(parser_module, "build_parser", interrupting)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == f"latentlab {argv[0]}: {said}"


@pytest.mark.parametrize("argv", [["detect", "RUN", "a.png"], ["benchmark", "one-class", "--dataset", "d"]])
def test_ctrl_c_while_the_parser_is_built_names_the_command_typed(argv, capsys, monkeypatch) -> None:
    from latentlab.cli import parser as parser_module

    def interrupted(chosen=None):  # building detect's parser imports torch: Ctrl-C can land there
        raise KeyboardInterrupt

    monkeypatch.setattr(parser_module, "build_parser", interrupted)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        f"latentlab {argv[0]}: interrupted before its output was written: nothing was kept; to do it, run the same "
        f"command again: latentlab {shlex.join(argv)}")
    assert main(["--version"]) == 130
    assert capsys.readouterr().err.startswith("latentlab: interrupted before its output was written")


def test_a_kept_checkpoint_is_named_with_the_data_dir_the_resume_needs(tmp_path: Path, capsys) -> None:
    from latentlab.cli.interrupted import interrupted_message
    from latentlab.cli.parser import build_parser

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "meta.json").write_text(json.dumps({"status": "interrupted"}))
    (run / "state.json").write_text(json.dumps({"epoch": 2, "step": 5}))
    argv = ["train", "--resume", str(run), "--data-dir", "/data"]
    assert interrupted_message(argv, build_parser("train").parse_args(argv)) == (
        f"latentlab train: interrupted: the checkpoint at step 5 of epoch 3 is kept in {run}; to go on from it: "
        f"latentlab train --resume {run} --data-dir /data")
    (run / "meta.json").write_text(json.dumps({"status": "finished"}))  # a run that ended is not resumed
    assert "nothing was kept" in interrupted_message(argv, build_parser("train").parse_args(argv))


def test_saying_what_an_interruption_kept_imports_no_torch(tmp_path: Path) -> None:
    # The message read two JSON files through the training package, which imports torch (seconds, for a command
    # interrupted before it had loaded torch itself).
    args = f"argparse.Namespace(command='train', run_dir={str(tmp_path)!r})"
    code = ("import argparse, sys; from latentlab.cli.interrupted import interrupted_message; "
            f"print(interrupted_message(['train', 'x'], {args})); "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == [f"latentlab train: interrupted before the first checkpoint: nothing was kept in "
                                f"{tmp_path}; to start again, run the same command: latentlab train x", "[]"]
