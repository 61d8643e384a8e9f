"""Novelty detection: `NoveltyDetector` (scikit-learn's outlier contract) over a family of registered scores.

The face of the package; its modules are private. `SCORES` names every registered score (`valid_scores(model)`
those a model can have), `Score` is what one entry says (`_score`), and `detector_for_run` reuses a run's saved
detector or fits one. Adding a score is adding one entry to `_scores.REGISTRY` (and its test).
`NoveltyDetector.explain` says why (`Explanation`); the anomaly maps it holds are functions on arrays (`_maps`).
`verdict_answer` is the per-image answer that `latentlab detect --json` and the web API both give.
"""

from latentlab.analysis.novelty._detector import FORMAT, SCORES, NoveltyDetector, valid_scores
from latentlab.analysis.novelty._explain import Explanation
from latentlab.analysis.novelty._maps import (
    DEFAULT_MAP,
    MAPS,
    combined_map,
    explain_pixels,
    per_pixel,
    reconstruction_map,
)
from latentlab.analysis.novelty._pixel_views import views
from latentlab.analysis.novelty._runs import (
    detector_for_run,
    fitted_labels,
    load_saved_detector,
    locate_detector,
    run_cache_dir,
    saved_detector,
)
from latentlab.analysis.novelty._score import NEEDS, FitInput, Score
from latentlab.analysis.novelty._scores import pixel_evidence
from latentlab.analysis.novelty._verdict import VERDICTS, verdict_answer

__all__ = ["DEFAULT_MAP", "FORMAT", "MAPS", "NEEDS", "SCORES", "VERDICTS", "Explanation", "FitInput",
           "NoveltyDetector", "Score",
           "combined_map", "detector_for_run", "explain_pixels", "fitted_labels", "load_saved_detector",
           "locate_detector", "per_pixel", "pixel_evidence", "reconstruction_map", "run_cache_dir", "saved_detector",
           "valid_scores", "verdict_answer", "views"]
