"""Deterministic, well-formed addresses, tags and transaction hashes per network family."""

from __future__ import annotations

import hashlib
import re
import secrets

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_HEX = "0123456789abcdef"
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

FORMATS: dict[str, tuple[str, str, int]] = {
    "BTC": ("bc1q", _BECH32, 38),
    "LTC": ("ltc1q", _BECH32, 38),
    "DOGE": ("D", _B58, 33),
    "DASH": ("X", _B58, 33),
    "BCH": ("q", _BECH32, 41),
    "EVM": ("0x", _HEX, 40),
    "TRON": ("T", _B58, 33),
    "XRP": ("r", _B58, 33),
    "TON": ("UQ", _B64URL, 46),
}
"""family -> (prefix, alphabet, characters after the prefix)."""

_PAYOUT_ADDRESS = re.compile(r"(bitcoincash:)?[A-Za-z0-9_-]{20,128}")
_TAG = re.compile(r"[A-Za-z0-9]{1,64}")


def _chars(seed: str, alphabet: str, count: int) -> str:
    """`count` characters of `alphabet` drawn from a hash chain of `seed`."""
    out: list[str] = []
    block = seed.encode()
    while len(out) < count:
        block = hashlib.sha256(block).digest()
        out.extend(alphabet[byte % len(alphabet)] for byte in block)
    return "".join(out[:count])


def address(family: str, seed: str) -> str:
    """A plausible address of `family`, always the same for the same seed."""
    prefix, alphabet, count = FORMATS[family]
    return prefix + _chars(seed, alphabet, count)


def destination_tag(seed: str) -> str:
    """A numeric destination tag (fits XRP's uint32), always the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % 999_999_999 + 1)


def txhash(family: str) -> str:
    """A fresh transaction hash in the network's usual spelling."""
    return ("0x" if family == "EVM" else "") + secrets.token_hex(32)


def payout_address_ok(address_to: str, tag: bool) -> bool:
    """The provider's own coarse check: `address:tag` on tag networks, no tag elsewhere."""
    if tag:
        address_to, colon, tag_value = address_to.rpartition(":")
        if not colon or not _TAG.fullmatch(tag_value):
            return False
    return _PAYOUT_ADDRESS.fullmatch(address_to) is not None
