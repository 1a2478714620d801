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
