"""The gateway's one exception hierarchy.

Every error a request can meet derives from :class:`GatewayError`, which knows its HTTP
status and its OpenAI error ``type`` and ``code``; one mapper in ``server/errors.py`` turns
any of them into ``{"error": {"message", "type", "param", "code"}}``.

    GatewayError
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ChatTemplateError          400 (the template's own message)
    │   └── ContextLengthExceededError 400 code=context_length_exceeded
    ├── AuthenticationError            401
    ├── PermissionDeniedError          403 (a valid identity without the route's role)
    ├── NotFoundError                  404
    │   ├── ModelNotFoundError         404 code=model_not_found
    │   └── LoraNotFoundError          404 code=lora_not_found (no worker holds the adapter)
    ├── RequestTimeoutError            408
    ├── PayloadTooLargeError           413
    ├── RateLimitError                 429
    ├── HeaderFieldsTooLargeError      431 (answered by the connection, before any route)
    ├── WorkerError                    a worker failed us (status from the gRPC code)
    │   ├── WorkerUnavailableError     503 (connection refused, UNAVAILABLE)
    │   ├── WorkerTimeoutError         504 (DEADLINE_EXCEEDED)
    │   ├── WorkerOverloadedError      429 (RESOURCE_EXHAUSTED)
    │   └── WorkerRejectedError        400 (INVALID_ARGUMENT and the like)
    ├── NoHealthyWorkerError           503
    │   └── NoWorkersError             503 code=no_workers (none registered yet: discovery fills the fleet)
    ├── HistoryUnavailable             503 code=history_unavailable (history/base.py: storage outage)
    ├── FailedDependencyError          424 an MCP server of the request is unreachable (mcp/)
    └── ConfigError                    start-up only, never an HTTP answer
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ChatTemplateError",
    "ConfigError",
    "ConflictError",
    "ContextLengthExceededError",
    "FailedDependencyError",
    "GatewayError",
    "HeaderFieldsTooLargeError",
    "InvalidRequestError",
    "LoraNotFoundError",
    "ModelNotFoundError",
    "NoHealthyWorkerError",
    "NoWorkersError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "WorkerError",
    "WorkerOverloadedError",
    "WorkerRejectedError",
    "WorkerTimeoutError",
    "WorkerUnavailableError",
]


class GatewayError(Exception):
    """Base of every gateway error; carries what the OpenAI error body needs."""

    status: int = 500
    type: str = "internal_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class ChatTemplateError(InvalidRequestError):
    """The chat template refused the conversation (``raise_exception``) or failed on it."""

    code = "chat_template_error"


class ContextLengthExceededError(InvalidRequestError):
    code = "context_length_exceeded"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFoundError(GatewayError):
    status = 404
    type = "not_found_error"


class ModelNotFoundError(NotFoundError):
    type = "invalid_request_error"
    code = "model_not_found"


class LoraNotFoundError(NotFoundError):
    type = "invalid_request_error"
    code = "lora_not_found"


class ConflictError(GatewayError):
    """The request is valid but the gateway's setup cannot carry it out (HTTP 409)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RequestTimeoutError(GatewayError):
    status = 408
    type = "timeout_error"
    code = "request_timeout"


class PayloadTooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class HeaderFieldsTooLargeError(GatewayError):
    status = 431
    type = "invalid_request_error"
    code = "request_header_fields_too_large"


class WorkerError(GatewayError):
    """A worker failed the request; ``retryable`` says whether another try may succeed."""

    status = 502
    type = "upstream_error"
    code = "worker_error"
    retryable = False


class WorkerUnavailableError(WorkerError):
    status = 503
    type = "service_unavailable"
    code = "worker_unavailable"
    retryable = True


class WorkerTimeoutError(WorkerError):
    status = 504
    type = "timeout_error"
    code = "worker_timeout"


class WorkerOverloadedError(WorkerError):
    status = 429
    type = "rate_limit_error"
    code = "worker_overloaded"
    retryable = True


class WorkerRejectedError(WorkerError):
    status = 400
    type = "invalid_request_error"
    code = "worker_rejected"


class NoHealthyWorkerError(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "no_healthy_worker"


class NoWorkersError(NoHealthyWorkerError):
    """No worker is registered at all (yet): a fleet that discovery has not filled."""

    code = "no_workers"


class ConfigError(GatewayError):
    """Bad configuration found at start-up; the CLI prints it and exits."""


class FailedDependencyError(GatewayError):
    """An MCP server a request names could not be reached or listed (smg answers 424)."""

    status = 424
    type = "failed_dependency"
    code = "mcp_server_unavailable"
