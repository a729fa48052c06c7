"""The one error type the project raises for input it cannot use."""


class InputError(ValueError):
    """Bad input (file, image, name, folder): the message says what was expected and what arrived."""
