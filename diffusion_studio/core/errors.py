"""Errors whose message is meant for the person using the app or the CLI."""

__all__ = ["InputError"]


class InputError(ValueError):
    """Unusable input (a bad file, folder, parameter …). ``str(error)`` is the message to show.

    The CLI exits with status 2 on it; the GUI shows it and keeps what it had.
    """
