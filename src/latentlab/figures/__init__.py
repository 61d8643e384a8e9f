"""Figures: NumPy arrays -> matplotlib figures (no torch, no models); `from_runs` makes them from a run and its data.

Every function returns a `matplotlib.figure.Figure` built through the object API (never pyplot), so figures can be
made in a web server's threads and shown inline by Jupyter; `save_figure` writes a PNG atomically.
"""

from latentlab.figures.curves import training_curves_figure
from latentlab.figures.grids import latent_grid, manifold_figure, samples_figure
from latentlab.figures.latent import PROJECTIONS, decoded_point_figure, latent_scatter_figure
from latentlab.figures.rows import code_grid_shape, denoising_figure, reconstruction_figure
from latentlab.figures.style import as_unit_images, new_figure, save_figure

__all__ = [
    "PROJECTIONS", "as_unit_images", "code_grid_shape", "decoded_point_figure", "denoising_figure", "latent_grid",
    "latent_scatter_figure", "manifold_figure", "new_figure", "reconstruction_figure", "samples_figure",
    "save_figure", "training_curves_figure",
]
