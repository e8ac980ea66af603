"""A faithful, stateful Passimpay simulator with fault injection (see providers.md section 2)."""

from sandbox.passimpay.delivery import CallbackDelivery
from sandbox.passimpay.faults import Fault, PassimpayFaults
from sandbox.passimpay.simulator import DEFAULT_PLATFORMS, PassimpaySandbox
from sandbox.passimpay.store import SimInvoice, SimWithdrawal

__all__ = [
    "DEFAULT_PLATFORMS",
    "CallbackDelivery",
    "Fault",
    "PassimpayFaults",
    "PassimpaySandbox",
    "SimInvoice",
    "SimWithdrawal",
]
