"""findimage's exceptions. Library errors are converted to these at the boundary.

    FindImageError
    ├── InvalidRequest           a parameter makes no sense (an empty query)
    ├── Unauthorized             no valid session or token (and login is required)
    ├── Forbidden                the caller may not do this
    ├── NotFound                 the thing asked for does not exist
    ├── InvalidImage             the bytes are not an image we accept (corrupt, truncated)
    │   ├── UnsupportedImage     a format we do not read (or not an image at all)
    │   └── ImageTooLarge        over the byte or pixel limit
    ├── ModelUnavailable         CLIP weights cannot be loaded
    ├── RateLimited              too many requests from one user for now
    ├── ServiceUnavailable       Redis, Qdrant or the database cannot be reached
    └── TimedOut                 the model or the store took longer than allowed
"""


class FindImageError(Exception):
    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(FindImageError):
    code = "invalid_request"


class Unauthorized(FindImageError):
    code = "unauthorized"


class Forbidden(FindImageError):
    code = "forbidden"


class NotFound(FindImageError):
    code = "not_found"


class InvalidImage(FindImageError):
    code = "invalid_image"


class UnsupportedImage(InvalidImage):
    code = "unsupported_media_type"


class ImageTooLarge(InvalidImage):
    code = "image_too_large"


class ModelUnavailable(FindImageError):
    code = "model_unavailable"


class WeightsUnavailable(ModelUnavailable):
    """The model's weights are neither on this machine nor downloadable from here: no
    other backend can help."""


class ServiceUnavailable(FindImageError):
    code = "service_unavailable"


class RateLimited(FindImageError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds until the limit lets the caller in again."""


class TimedOut(FindImageError):
    code = "timeout"
