"""The report: every seed experiment trained (or reused), measured and drawn into one self-contained HTML page."""

from latentlab.report.experiments import SECTIONS, build_report

__all__ = ["SECTIONS", "build_report"]
