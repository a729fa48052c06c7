"""The project's error types: bad input from a user, and a bundle that cannot be served."""


class InputError(ValueError):
    """Bad input (file, image, name, folder): the message says what was expected and what arrived."""


class BundleError(RuntimeError):
    """The model bundle cannot be used (missing file, checksum mismatch, unknown format version);
    raised at start-up, the message names the file."""
