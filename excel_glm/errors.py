"""One exception tree for excel-glm.

    ExcelGlmError
    ├── UserError               bad input from the user (CLI: one line, exit 1; service: 4xx)
    │   ├── ConfigError         settings that cannot work (unknown provider, missing key...)
    │   ├── TaskError           task parameters that cannot work (no labels, no language...)
    │   └── WorkbookError       a workbook that cannot be read or written safely (corrupt,
    │       │                   encrypted, bomb, missing sheet, unwritable output...)
    │       └── RangeSpecError  an A1 range or target column that does not parse or fit
    ├── ProviderError           the model provider failed
    │   ├── RetryableProviderError    may succeed later: rate limit, overload, 5xx, network
    │   │                             (service: 503)
    │   └── FatalProviderError        no retry can fix it; stops the whole run (service: 502)
    │       ├── AuthenticationError       wrong or missing API key (GLM 1000-1005)
    │       ├── InsufficientBalanceError  empty balance or no resource package (GLM 1113)
    │       └── QuotaExceededError        a daily or plan quota is used up (1304, 1308-1321)
    ├── RunCancelled            the caller cancelled a run; paid answers are in the cache
    └── CellErrors              the Python API: some cells got no answer (`.values`, `.errors`)

Messages never contain the API key: providers build them from the server's code and message only.
"""

from __future__ import annotations


class ExcelGlmError(Exception):
    """Base of every error excel-glm raises on purpose."""


class UserError(ExcelGlmError):
    """Bad input from the user; shown as one line, never as a traceback."""


class ConfigError(UserError):
    """Settings that cannot work."""


class TaskError(UserError):
    """Task parameters that cannot work."""


class WorkbookError(UserError):
    """A workbook that cannot be read or written safely."""


class RangeSpecError(WorkbookError):
    """An A1 range, sheet or target column that does not parse or does not fit."""


class ProviderError(ExcelGlmError):
    """The model provider failed.

    `code` is the provider's business code when it gave one (GLM's "1302"...), `status` the
    HTTP status.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RetryableProviderError(ProviderError):
    """A failure that may succeed when tried again later."""


class FatalProviderError(ProviderError):
    """A failure that no retry can fix; it stops the whole run at once."""


class AuthenticationError(FatalProviderError):
    """The API key is missing, wrong or expired."""


class InsufficientBalanceError(FatalProviderError):
    """The account has no balance or resource package left."""


class QuotaExceededError(FatalProviderError):
    """A daily or plan quota is used up."""


class RunCancelled(ExcelGlmError):
    """The caller cancelled the run."""


class CellErrors(ExcelGlmError):
    """Some cells of a Python API call got an error instead of an answer.

    `values` holds every answer in input order (None where a cell failed or was blank) and
    `errors` maps the index of each failed cell to its message, so nothing already paid for is lost.
    """

    def __init__(self, values: list, errors: dict[int, str]) -> None:
        first = min(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{len(errors)} cell(s) failed; cell {first}: {errors[first]}{more}")
        self.values = values
        self.errors = errors
