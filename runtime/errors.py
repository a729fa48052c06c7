"""The project's error types: bad input from a user, and a bundle that cannot be served."""


class InputError(ValueError):
    """Bad input (file, image, name, folder): the message says what was expected and what arrived."""


class BundleError(RuntimeError):
    """The model bundle cannot be used (missing file, checksum mismatch, unknown format version);
    raised at start-up, the message names the file."""


def exit_code(action) -> int:
    """Run a command line's `action()`: 0, or on an InputError its message on stderr as one
    "error: ..." line and 2 (the exit code of every project CLI for bad input)."""
    import sys

    try:
        action()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
