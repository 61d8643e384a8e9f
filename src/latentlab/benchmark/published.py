"""Published one-class results on MNIST and Fashion-MNIST, as data: quoted beside our numbers, never computed.

Transcribed from ../shared/one-class-references.md. Values are AUROC in percent, as printed; `per_class` is None
where only the mean was published. Protocol unless a row's notes say otherwise: train on one class's 6,000 training
images, test on the whole 10,000-image test set, that class normal and the other nine anomalies. `source` names the
original paper; `reported_in` says where the figures were read when the row is a later paper's copy.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The data set each table belongs to, and the registered names that are that data (or a sample of it).
FAMILIES = {"fashion-mnist": ("fashion-mnist", "fashion-mnist-sample"), "mnist": ("mnist", "mnist-sample")}
FULL_PROTOCOL = "6,000 training images per class, the 10,000-image test set"


@dataclass(frozen=True)
class PublishedRow:
    method: str
    dataset: str  # a key of FAMILIES
    per_class: tuple[float, ...] | None  # AUROC % of classes 0..9, or None (mean only)
    mean: float  # AUROC %, the mean over the 10 classes as published
    source: str  # the original paper: authors, title, venue, year
    notes: str = ""  # protocol differences
    reported_in: str = ""  # "" when read from the original; else where the copy was read
    hindsight: bool = False  # hyper-parameters chosen with the test set's labels

    def citation(self) -> str:
        """Source, copy and notes in one line, for a table's last column."""
        parts = [self.source]
        if self.reported_in:
            parts.append(f"as reported in {self.reported_in}")
        if self.hindsight:
            parts.append("tuned on test labels (hindsight)")
        if self.notes:
            parts.append(self.notes)
        return "; ".join(parts)


_GOLAN = "Golan & El-Yaniv, \"Deep Anomaly Detection Using Geometric Transformations\", NeurIPS 2018"
_YE = "Ye et al., \"Attribute Restoration Framework for Anomaly Detection\", IEEE Trans. Multimedia 2022"

FASHION = (
    PublishedRow("GEOM", "fashion-mnist", (99.4, 97.6, 91.1, 89.9, 92.1, 93.4, 83.3, 98.9, 90.8, 99.2), 93.5,
                 f"{_GOLAN}, Table 1", "images padded to 32x32, scaled to [-1, 1]; mean of 5 runs",
                 reported_in="later papers (per class)"),
    PublishedRow("ARNet", "fashion-mnist", (92.7, 99.3, 89.1, 93.6, 90.8, 93.1, 85.0, 98.4, 97.8, 98.4), 93.9,
                 _YE, reported_in="a later paper"),
    PublishedRow("Sohn et al.", "fashion-mnist", None, 94.8,
                 "Sohn et al., \"Learning and Evaluating Representations for Deep One-class Classification\", "
                 "ICLR 2021", "mean only", reported_in="a results aggregator"),
    PublishedRow("RAW-OC-SVM", "fashion-mnist", None, 92.8, _GOLAN, "OC-SVM on raw pixels; mean only",
                 hindsight=True),
    PublishedRow("CAE-OC-SVM", "fashion-mnist", None, 91.7, _GOLAN, "OC-SVM on a conv autoencoder's code; mean only",
                 hindsight=True),
    PublishedRow("ADGAN", "fashion-mnist", None, 88.4, _GOLAN,
                 "their code scores a 5,000-image subset of the test set; mean only"),
    PublishedRow("DSEBM", "fashion-mnist", None, 86.6, _GOLAN,
                 "deep structured energy-based model; mean of 5 runs; mean only"),
)

MNIST = (
    PublishedRow("one-class Deep SVDD", "mnist", (98.0, 99.7, 91.7, 91.9, 94.9, 88.5, 98.3, 94.6, 93.9, 96.5), 94.8,
                 "Ruff et al., \"Deep One-Class Classification\", ICML 2018",
                 "pixels min-max scaled after global contrast normalisation; independent re-runs land about 1 point "
                 "lower (93.6-94.2)", reported_in="later papers (per class)"),
    PublishedRow("OC-NN", "mnist", (97.6, 99.5, 87.3, 86.5, 93.3, 86.5, 97.1, 93.6, 88.5, 93.5), 92.3,
                 "Chalapathy et al., \"Anomaly Detection using One-Class Neural Networks\", 2018",
                 reported_in="a later paper"),
    PublishedRow("AnoGAN", "mnist", (99.0, 99.8, 88.8, 91.3, 94.4, 91.2, 92.5, 96.4, 88.3, 95.8), 93.7,
                 "Schlegl et al., IPMI 2017", reported_in="a later paper"),
    PublishedRow("OCGAN", "mnist", (99.8, 99.9, 94.2, 96.3, 97.5, 98.0, 99.1, 98.1, 93.9, 98.1), 97.5,
                 "Perera et al., CVPR 2019", "the paper uses two protocols and the copy does not say which",
                 reported_in="a later paper"),
    PublishedRow("GEOM", "mnist", (98.2, 91.6, 99.4, 99.0, 99.1, 99.6, 99.9, 96.3, 97.2, 99.2), 98.0,
                 "Golan & El-Yaniv 2018 method", "MNIST figures from a later paper's re-run of the method"),
    PublishedRow("ARNet", "mnist", (98.6, 99.9, 99.0, 99.1, 98.1, 98.1, 99.7, 99.0, 93.6, 97.8), 98.3, _YE,
                 reported_in="a later paper"),
)

PUBLISHED: dict[str, tuple[PublishedRow, ...]] = {"fashion-mnist": FASHION, "mnist": MNIST}
"""Published one-class results, quoted from the papers (never computed): data set -> its rows."""


def family(name: str) -> str | None:
    """The published table a registered data set's results may be quoted beside ("mnist-sample" -> "mnist")."""
    return next((fam for fam, names in FAMILIES.items() if name in names), None)


def published_rows(name: str) -> tuple[PublishedRow, ...]:
    """The rows to quote beside results on the registered data set `name`; none for any other data."""
    fam = family(name)
    return PUBLISHED[fam] if fam else ()
