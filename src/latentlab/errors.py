"""latentlab's exceptions: one base class and one kind per sort of trouble.

Every message names the thing, says what is wrong and what to do. Library errors speak Python (argument and
config-field names); the command line maps them to its flags. Each kind also derives from the built-in
exception a caller would have caught before it existed (ValueError, RuntimeError), so older code keeps working.
"""


class LatentlabError(Exception):
    """Base of every error latentlab raises on purpose; anything else escaping is a bug."""


class ConfigError(LatentlabError, ValueError):
    """A config value or argument is impossible; the message names it and the allowed values."""


class DatasetError(LatentlabError, RuntimeError):
    """A data set is missing, corrupt or malformed."""


class ChecksumError(DatasetError):
    """A file is well-formed as far as it was read, but is not the published one."""


class RunError(LatentlabError, RuntimeError):
    """A run directory is missing, incomplete or damaged."""


class DetectorFileError(RunError, ValueError):
    """A run's saved novelty detector cannot be used: damaged, of another format, or fitted for other weights."""


class MissingDetectorError(DetectorFileError, FileNotFoundError):
    """A run has no saved novelty detector for the score asked for."""


class TrainingError(LatentlabError, RuntimeError):
    """Training cannot go on (non-finite loss, a resume that does not fit, no such device)."""


class TaskError(LatentlabError, RuntimeError):
    """A task given to `latentlab.runner` could not run to its end: its worker process died, or it was cancelled."""


class ImageError(LatentlabError, ValueError):
    """An image cannot be used as model input; `status` is the HTTP status that says why (400, 413 or 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
