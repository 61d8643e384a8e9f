"""What `latentlab datasets` lists: where each data set resolves from now, its sizes, its checksums."""

from __future__ import annotations

from pathlib import Path

from latentlab.data.archive import find_in
from latentlab.data.idx import read_idx_shape
from latentlab.data.registry import ARCHIVES, BUILT, DATASETS, SAMPLES, ArchiveSpec
from latentlab.data.resolve import (
    cache_dir,
    checksum_failures,
    default_data_dir,
    find_files,
    held_dataset,
    look_in_data_dir,
)
from latentlab.data.samples import sample_ok, sample_path
from latentlab.errors import DatasetError
from latentlab.files import file_digest


def dataset_table(verify: bool = True) -> list[dict]:
    """One row per built-in dataset and sample: where it resolves from now (never downloads), the split
    sizes, the number of classes and whether the checksums verify ("ok", "mismatch: FILE, ..." naming the files
    that fail, or "-"). A folder holding another registered data set is skipped, as when loading, and said."""
    rows = []
    root = default_data_dir(None)
    for spec in DATASETS.values():
        row = {"name": spec.name, "resolves_from": "not found", "train": None, "test": None,
               "classes": len(spec.classes), "checksums": "-"}
        rows.append(row)
        # The order of resolve.load_dataset. A data dir holds one data set: files that are another one (by
        # checksum) are not a corrupt copy of this one; loading skips them, and so does this listing.
        lookup = None if root is None else look_in_data_dir(spec, root)
        if lookup is not None and lookup.problem and lookup.files and not lookup.other:
            row["resolves_from"] = f"error: data dir {lookup.directory} {lookup.problem}"
            continue
        notes = [f"data dir {lookup.directory} skipped: {lookup.problem}"] if lookup and lookup.other else []
        places = [("data dir", lookup.directory)] if lookup is not None and not lookup.problem else []
        places += [("cache", cache_dir(spec.name))] + [("system copy", Path(d)) for d in spec.system_dirs]
        for label, directory in places:
            found = find_files(directory, spec)
            if len(found) < len(spec.files):
                continue
            other = held_dataset(found)
            if label != "data dir" and other not in (None, spec.name):
                notes.append(f"{label} {directory} skipped: holds {other}, not {spec.name}")
                continue
            row["resolves_from"] = f"{label} {directory}"
            try:
                row["train"] = read_idx_shape(found["train_images"])[0]
                row["test"] = read_idx_shape(found["test_images"])[0]
            except DatasetError:
                pass  # a damaged file: its checksum names it below
            if verify:
                bad = checksum_failures(spec, found)
                row["checksums"] = f"mismatch: {', '.join(p.name for p in bad)}" if bad else "ok"
            break
        row["resolves_from"] = "; ".join([row["resolves_from"], *notes])
    rows += [_archive_row(spec, root, verify) for spec in ARCHIVES.values()]
    for sample in SAMPLES.values():
        path = sample_path(sample)
        ok = sample_ok(sample)
        rows.append({"name": sample.name, "resolves_from": f"bundled {path}" if path.is_file() else "not found",
                     "train": sample.n_train, "test": sample.n_test, "classes": len(sample.classes),
                     "checksums": ("ok" if ok else "mismatch") if verify else "-"})
    rows += [{"name": b.name, "resolves_from": "built on the spot (offline)", "train": None, "test": None,
              "classes": len(b.classes), "checksums": "-"} for b in BUILT.values()]
    return rows


def _archive_row(spec: ArchiveSpec, root: Path | None, verify: bool) -> dict:
    """Where an archive data set resolves from, in the order of `latentlab.data.archive.load_archive`."""
    row = {"name": spec.name, "resolves_from": "not found", "train": None, "test": None,
           "classes": len(spec.classes), "checksums": "-"}
    found = None if root is None else find_in(spec, root)
    places = [("data dir", found)] if found is not None else []
    places += [(label, d / spec.archive[0]) for label, d in
               [("cache", cache_dir(spec.name)), *(("system copy", Path(d)) for d in spec.system_dirs)]]
    for label, path in places:
        if path.exists():
            row.update({"resolves_from": f"{label} {path}", "train": spec.n_train, "test": spec.n_test})
            if verify and path.is_file() and path.name == spec.archive[0]:
                row["checksums"] = "ok" if file_digest(path, "md5") == spec.archive[1] else "mismatch"
            break
    return row
