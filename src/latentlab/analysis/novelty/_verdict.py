"""The answer about one image, one schema for `latentlab detect --json` and the web API's `/detect`: the same keys,
the same short verdict codes, built here once so that the two cannot drift apart (issue 26: they had)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from latentlab.images import Prepared

#: Verdict code -> the sentence said with it (`verdict_text`; "{objects}" is the count). "blank" and "several
#: objects" are said whatever the score: an empty page, or several objects in one frame, is no image of the data,
#: and its score answers nothing.
VERDICTS = {
    "in": "like the training data: part of the data set",
    "out": "not like the training data: not part of the data set",
    "blank": "blank image: nothing stands out from the background, nothing to judge",
    "several objects": "not one object: {objects} separate objects; crop to one",
}


def verdict_answer(prepared: Prepared, score: float, threshold: float, score_name: str,
                   steps: Sequence[str] | None = None) -> dict[str, Any]:
    """The per-image answer: the score against the threshold, and the verdict on the image as it was read.

    Parameters
    ----------
    prepared : latentlab.images.Prepared
        The image as read (`read_image`): its objects, blank or several, steps and source size.
    score, threshold : float
        The detector's score of the image and its `offset_`; higher scores are more typical of the data.
    score_name : str
        The detector's score ("combined", "pixel-knn", ...).
    steps : sequence of str, optional
        What was done to the image, when more than `prepared.steps` (the CLI's ``--invert``).

    Returns
    -------
    dict
        ``score``, ``threshold``, ``decision`` (score - threshold), ``member`` (verdict "in"), ``verdict`` (a code
        of `VERDICTS`), ``verdict_text`` (its sentence), ``score_name``, ``higher_is_more_typical`` (True),
        ``objects``, ``steps`` (list of str) and ``source_size`` ([height, width]): plain JSON types.
    """
    score, threshold = float(score), float(threshold)
    verdict = ("blank" if prepared.blank else "several objects" if prepared.several else
               "in" if score >= threshold else "out")
    return {"score": score, "threshold": threshold, "decision": score - threshold, "member": verdict == "in",
            "verdict": verdict, "verdict_text": VERDICTS[verdict].format(objects=prepared.objects),
            "score_name": score_name, "higher_is_more_typical": True, "objects": int(prepared.objects),
            "steps": list(prepared.steps if steps is None else steps),
            "source_size": [int(v) for v in prepared.source_size]}


__all__ = ["VERDICTS", "verdict_answer"]
