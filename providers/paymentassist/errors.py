"""Payment Assist failures sorted by whether the request can have reached the lender."""

from __future__ import annotations

from providers.errors import Transient


class NotSent(Transient):
    """Nothing left this process (connect refused, connect or pool timeout): safe to resend."""
