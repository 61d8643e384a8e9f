"""A set of files written into a directory whole or not at all: what a run's checkpoint is.

`write_file_set` writes every file into a hidden staging directory inside the target (so on the same disk),
flushes it to disk and reads it back against the SHA-256 of the bytes meant, then writes a manifest naming them.
Renaming the staging directory to `.commit` is the commit point. The files are then moved over the old ones one
by one (os.replace, which needs no free space), `last` at the end (meta.json, whose checksums readers verify), and
the emptied `.commit` is removed.

A failure or crash before the commit leaves the old files untouched (a stale staging directory is ignored by
readers and removed by the next writer); after it, `.commit` holds a whole, checked set, and `finish_commit` moves
the rest of it into place (any number of times: a file already moved is simply no longer there). So the directory
always holds one complete set, once `finish_commit` has run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from latentlab.errors import CheckpointError, RunError, RunLockedError
from latentlab.locks import run_lock

# The files of a run directory (`latentlab.runs`); named here, beside how its checkpoint is written, so that what a
# run holds can be read without importing torch (an interrupted command says it, `cli.interrupted`).
CONFIG, MODEL, OPTIMIZER, STATE, HISTORY, META = (
    "config.json", "model.safetensors", "optimizer.safetensors", "state.json", "history.jsonl", "meta.json")
#: meta.json statuses a run can be continued from: stopped by a signal, or left "running" by a process that was
#: killed (its last checkpoint is the end of an epoch).
RESUMABLE = ("interrupted", "running")
STAGE_PREFIX, COMMIT, MANIFEST = ".staging-", ".commit", "manifest.json"


def write_file_set(directory: str | Path, files: dict[str, bytes], last: str, what: str = "checkpoint") -> None:
    """Replace `files` (name -> bytes) in `directory` as one set, `last` moved in after the others (see the module
    docstring). Call it while holding the directory's lock (`locks.run_lock`): it removes stale staging directories.

    Raises CheckpointError (the directory, its free space and the bytes needed) when a file cannot be written
    (ENOSPC, EDQUOT, EIO, ...): nothing was swapped in, and the staging files are removed. Raises RunError when the
    set was committed but could not be moved into place (it is then finished by the next `finish_commit`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    finish_commit(directory)  # an earlier writer's committed set first, so that "the previous set" is whole
    for stale in directory.glob(f"{STAGE_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    # A file already there with these very bytes (the weights of a run's last save, which only changes its status)
    # is left as it is: nothing to swap, and no room needed for a second copy.
    files = {name: data for name, data in files.items() if name == last or not _holds(directory / name, data)}
    order = [name for name in files if name != last] + [last]
    needed = sum(len(data) for data in files.values())
    stage: Path | None = None
    try:
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=directory))
        digests = {name: _write_checked(stage / name, files[name]) for name in order}
        _write_checked(stage / MANIFEST, json.dumps({"order": order, "sha256": digests}).encode())
        _fsync_dir(stage)
        os.rename(stage, directory / COMMIT)  # the commit point
        stage = None
        _fsync_dir(directory)
    except OSError as exc:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise _write_error(directory, exc, needed, what) from None
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    finish_commit(directory)


def pending_commit(directory: str | Path) -> bool:
    """Whether `directory` holds a committed set not yet wholly moved into place (its writer stopped mid-swap)."""
    return (Path(directory) / COMMIT).is_dir()


def finish_commit(directory: str | Path) -> bool:
    """Move a committed set's remaining files into `directory` in its manifest's order, then remove `.commit`.
    Returns whether there was one. RunError when the directory cannot be written (read-only, permissions)."""
    directory = Path(directory)
    commit = directory / COMMIT
    if not commit.is_dir():
        return False
    try:
        try:
            order = json.loads((commit / MANIFEST).read_text())["order"]
        except FileNotFoundError:
            order = []  # every file was moved and the manifest removed; only the empty directory is left
        for name in order:
            # A file no longer there was moved already, by the writer that stopped or by a reader finishing it.
            with contextlib.suppress(FileNotFoundError):
                os.replace(commit / name, directory / name)
        _fsync_dir(directory)
        (commit / MANIFEST).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            commit.rmdir()
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"{directory} holds a checkpoint whose writer stopped while moving it into place "
                       f"({directory / COMMIT}, whole and checked), and it could not be finished ({exc}); open the run "
                       "once where the directory is writable (any latentlab command on it, or latentlab.load_run), "
                       "which finishes it", field="run_dir", value=str(directory)) from None
    return True


def finish_pending(directory: str | Path) -> None:
    """`finish_commit` under the directory's lock, for readers (`load_run`). Nothing to do when there is no pending
    set, or when a live writer holds the lock (it finishes the set itself)."""
    if not pending_commit(directory):
        return
    try:
        with run_lock(directory, "finishing a checkpoint"):
            finish_commit(directory)
    except RunLockedError:
        pass
    except RunError:  # no lock file can be made (a read-only directory): finish_commit says why it cannot finish
        finish_commit(directory)


def _write_checked(path: Path, data: bytes) -> str:
    """Write `data` to the new file `path`, flush it to disk and read it back; returns the SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    _write(path, data)
    os.chmod(path, 0o644)  # the staging directory is private (0700), the files are meant to be shared
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != digest:
        raise OSError(errno.EIO, "the file read back differs from the bytes written", str(path))
    return digest


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file `path` holds exactly `data` (sizes compared first, so a changed file is rarely read)."""
    try:
        if path.stat().st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open a directory; the renames are still atomic there
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every filesystem syncs directories
    finally:
        os.close(fd)


def _write_error(directory: Path, exc: OSError, needed: int, what: str) -> CheckpointError:
    try:
        free: int | None = shutil.disk_usage(directory).free
    except OSError:
        free = None
    reason = exc.strerror or str(exc)
    disk = f"the disk mounted at {_mount_point(directory)}"
    space = (f"{disk} has {_size(free)} free and the {what} needs {_size(needed)}" if free is not None
             else f"the {what} needs {_size(needed)} on {disk}")
    fix = ("free some space there (or write the run elsewhere)"
           if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "check that disk and its permissions")
    return CheckpointError(f"could not write the {what} into {directory} ({reason}): {space}; nothing of it was "
                           f"kept and the previous {what} there is whole; {fix}, then try again",
                           path=str(directory), free=free, needed=needed, field="run_dir", value=str(directory))


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def kept_checkpoint(run_dir: Path) -> str | None:
    """The checkpoint `run_dir` holds that a resume goes on from, in words ("the checkpoint after epoch 3", "the
    checkpoint at step 12 of epoch 4"), or None where there is none: no run, a damaged one, or one that ended.
    Reads two JSON files and imports nothing heavy, so that an interrupted command says it at once, whatever it had
    loaded (`detect` interrupted while reading files has not imported torch yet)."""
    try:
        meta = json.loads((run_dir / META).read_text())
        state = json.loads((run_dir / STATE).read_text())
        epoch, step = int(state.get("epoch", 0)), int(state.get("step", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    if not isinstance(meta, dict) or meta.get("status") not in RESUMABLE or not (run_dir / CONFIG).is_file():
        return None
    if step:
        return f"the checkpoint at step {step} of epoch {epoch + 1}"
    return f"the checkpoint after epoch {epoch}" if epoch else "the checkpoint made before the first step"
