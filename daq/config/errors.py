"""The one error type of configuration problems."""


class ConfigError(ValueError):
    """An invalid configuration; the message names the file, the key and what was expected."""
