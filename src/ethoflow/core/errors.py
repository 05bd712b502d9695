"""Exception types. Each message names the file, the row or key, and what is wrong."""


class EthoflowError(Exception):
    """Base class for errors that stages report to the user without a traceback.

    ``exit_code`` is the exit status of the stage script or ``ethoflow`` command that reports it.
    """

    exit_code: int = 1


class ParamsError(EthoflowError):
    """A params file has a missing, unknown or mistyped key (message names the file and key path)."""


class InputError(EthoflowError):
    """An input file is missing, unreadable or inconsistent (message names the file and the problem)."""


class OverwriteError(EthoflowError):
    """An output outside DVC's own outs exists and ``overwrite`` was not given."""


class OutputError(EthoflowError):
    """An output cannot be written: no space left, permission denied, read-only location, or a file
    where a folder is needed (or the reverse). The message names the path and the cause."""


class UsageError(InputError):
    """The inputs are readable but do not fit what was asked (e.g. ``z_schema: bio_nuisance`` on a latent
    store without bio/nuisance columns): the user must choose, so the exit status is 2, as for a bad
    command line."""

    exit_code = 2
