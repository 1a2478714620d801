class ServiceError(Exception):
    """A request that cannot be carried out; the message says what was wrong and what to do."""

    status_code = 400


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class RateLimited(ServiceError):
    status_code = 429


class InvalidFields(ServiceError):
    """What is wrong with a request, field by field: `problems` maps a field's name to its message (a form shows
    each next to its field); the message joins them."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems
