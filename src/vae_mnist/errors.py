"""Exceptions whose message is the one line a user sees."""


class VaeMnistError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with status 2."""


class ConfigError(VaeMnistError, ValueError):
    """A run configuration or command-line value is invalid."""


class DataError(VaeMnistError):
    """A data file is missing, truncated, corrupt or fails its checksum."""
