"""Domain errors: messages a person can act on, raised by domain functions and shown by views."""


class DomainError(Exception):
    """Something the user asked for cannot be done; str(error) says why in plain words."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        if field is not None:
            self.field = field


class NotFound(DomainError):
    """The thing does not exist, or the user may not know that it does."""


class Forbidden(DomainError):
    """The user may see the thing but not do this to it."""


class TooManyAttempts(DomainError):
    """Too many failed attempts in a short time; try again later."""
