"""Exceptions whose message is the one line a user sees."""


class VaeMnistError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with status 2."""


class ConfigError(VaeMnistError, ValueError):
    """A run configuration or command-line value is invalid."""


class DataError(VaeMnistError):
    """A data file is missing, truncated, corrupt or fails its checksum."""


class DamagedRunError(VaeMnistError):
    """A run folder whose files do not parse, lack what the code reads, or whose model does not load.

    ``path`` is the run folder, ``file`` the first file found wrong, ``reason`` what is wrong with it,
    and ``moved_to`` where the folder was moved aside (``None`` if it was left in place).
    """

    def __init__(self, path, file, reason, moved_to=None):
        self.path, self.file, self.reason, self.moved_to = path, file, reason, moved_to
        where = f"; moved aside to {moved_to}" if moved_to is not None else ""
        super().__init__(f"run {path} is damaged ({file}: {reason}){where}")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so it unwinds exactly like Ctrl-C (temporary files removed)."""


class PaperQuoteError(VaeMnistError):
    """A quote the book attributes to the paper is not in the paper's text."""
