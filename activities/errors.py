"""Turn provider client errors into Temporal errors that retry only what may succeed later."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.exceptions import ApplicationError

from providers.errors import InvalidInput, Refused, Transient

REFUSED = "Refused"
INVALID_INPUT = "InvalidInput"
TRANSIENT = "Transient"
NON_RETRYABLE_TYPES = [REFUSED, INVALID_INPUT]


@contextlib.contextmanager
def provider_call() -> Iterator[None]:
    """Refused and invalid input stop retries; transient failures are retried by Temporal."""
    try:
        yield
    except InvalidInput as error:
        raise ApplicationError(str(error), type=INVALID_INPUT, non_retryable=True) from None
    except Refused as error:
        raise ApplicationError(
            error.message, error.status_code, type=REFUSED, non_retryable=True
        ) from None
    except Transient as error:
        raise ApplicationError(str(error), type=TRANSIENT) from None
