"""One spelling per chain for addresses and transaction hashes, so records compare as equal.

Providers write the same destination differently: the tag appended (`address:tag`) or apart
(`destinationTag`), EVM hex checksummed or lower-case, bech32 upper- or lower-case. Comparing
them as text turns a paid payout into an unknown one. These pure functions give one canonical
form per chain; compare canonical forms, never raw text.

Rules (a spelling the chain treats as a *different* address must stay different):
- EVM: hex, case-insensitive: `0x` + lower-case hex (a `0X` or missing prefix is normalised).
- Bitcoin-family bech32 (`bc1`, `ltc1`, ...) and BCH cashaddr: case-insensitive (all-upper or
  all-lower; mixed case is no valid address and is kept as written): lower-case, cashaddr with
  its `bitcoincash:` prefix.
- Base58 (Tron, XRP, legacy BTC/LTC/DOGE/DASH, Solana): case-sensitive: kept as written.
- TON: a checksummed user-friendly form (bounceable or not, base64 or base64url) is the raw
  `workchain:hex` form of the same account; the raw form is lower-case hex.
- Tag networks (XRP, TON, XLM, EOS): `address:tag`, whether the tag came appended or apart;
  XRP tags are numbers (`007` is `7`). Unknown networks keep their text as written.
- Transaction hashes: hex is lower-case; EVM hashes carry `0x`, other hex hashes none.
"""

from __future__ import annotations

import base64
import binascii
import re

EVM = "EVM"
TRON = "TRON"
UTXO = "UTXO"
XRP = "XRP"
TON = "TON"
MEMO = "MEMO"
SOLANA = "SOLANA"

_EVM_NAMES = ("ETH", "ERC20", "BEP20", "BSC", "BNB", "POLYGON", "MATIC", "ARBITRUM", "BASE")
FAMILIES: dict[str, str] = {
    **{name: EVM for name in _EVM_NAMES},
    **{name: TRON for name in ("TRON", "TRC20", "TRX")},
    **{name: UTXO for name in ("BTC", "LTC", "DOGE", "DASH", "BCH")},
    "XRP": XRP,
    "TON": TON,
    **{name: MEMO for name in ("XLM", "EOS")},
    **{name: SOLANA for name in ("SOL", "SOLANA", "SPL")},
}
"""Passimpay network (or ticker) names -> the family whose spelling rules apply."""
TAG_FAMILIES = frozenset({XRP, TON, MEMO})
HEX_TXID_FAMILIES = frozenset({TRON, UTXO, XRP})
"""Families whose transaction ids are plain hex without a prefix."""

_HEX = re.compile(r"[0-9a-fA-F]+")
_EVM_ADDRESS = re.compile(r"[0-9a-fA-F]{40}")
_BECH32 = re.compile(r"(bc|tb|bcrt|ltc|tltc)1[02-9ac-hj-np-z]{6,87}")
_CASHADDR = re.compile(r"[qp][02-9ac-hj-np-z]{41}")
_CASHADDR_PREFIX = "bitcoincash:"
_TON_RAW = re.compile(r"(-?[0-9]+):([0-9a-fA-F]{64})")
_TON_FRIENDLY = re.compile(r"[A-Za-z0-9+/_-]{48}")
_TON_MAINNET_FLAGS = frozenset({0x11, 0x51})
"""Bounceable and non-bounceable mainnet forms; a testnet form stays as written."""
_TAG = re.compile(r"[A-Za-z0-9]{1,64}")


def chain_family(network_or_ticker: str | None) -> str | None:
    """The family of a Passimpay network or ticker (`TRC20`, `ETH`, `XRP`); None if unknown."""
    if not network_or_ticker:
        return None
    return FAMILIES.get(network_or_ticker.strip().upper())


def canonical_address(network_or_ticker: str | None, address: str, tag: str | None = None) -> str:
    """The one spelling of `address` (with its destination `tag`, appended or apart) on that
    chain; equal results mean the same destination. Never raises: text it cannot read is kept
    as written, so it compares equal only to itself."""
    family = chain_family(network_or_ticker)
    text = address.strip()
    extra = (tag or "").strip() or None
    if family in TAG_FAMILIES:
        text, appended = _split_tag(family, text)
        tags = [t for t in (appended, extra) if t is not None]
        base = _canonical_bare(family, text)
        unique = list(dict.fromkeys(_canonical_tag(family, t) for t in tags))
        return ":".join([base, *unique])
    base = _canonical_bare(family, text)
    return f"{base}:{extra}" if extra is not None else base


def canonical_txhash(network_or_ticker: str | None, txhash: str) -> str:
    """The one spelling of a transaction hash on that chain: hex lower-case, `0x` on EVM hashes
    and on no other known family's; anything but hex (Base58, base64) is kept as written."""
    family = chain_family(network_or_ticker)
    text = txhash.strip()
    prefixed = text[:2].lower() == "0x"
    body = text[2:] if prefixed else text
    if family == SOLANA or not _HEX.fullmatch(body):
        return text
    if family == EVM:
        return "0x" + body.lower()
    if family in HEX_TXID_FAMILIES:
        return body.lower()
    return ("0x" if prefixed else "") + body.lower()


def _split_tag(family: str, text: str) -> tuple[str, str | None]:
    """`address:tag` -> (address, tag); a TON raw address keeps its own `workchain:` colon."""
    if family == TON and _TON_RAW.fullmatch(text):
        return text, None
    head, colon, tail = text.rpartition(":")
    if colon and head and _TAG.fullmatch(tail):
        return head, tail
    return text, None


def _canonical_tag(family: str, tag: str) -> str:
    """XRP destination tags are numbers; other memos are text, kept as written."""
    if family == XRP and tag.isdigit():
        return str(int(tag))
    return tag


def _canonical_bare(family: str | None, text: str) -> str:
    """An address without its tag, in its family's one spelling."""
    if family == EVM or (family is None and text[:2].lower() == "0x"):
        body = text[2:] if text[:2].lower() == "0x" else text
        return "0x" + body.lower() if _EVM_ADDRESS.fullmatch(body) else text
    if family == UTXO:
        return _canonical_utxo(text)
    if family == TON:
        return _canonical_ton(text)
    return text  # Base58 and unknown spellings are case-sensitive


def _single_case(text: str) -> bool:
    return text in (text.lower(), text.upper())


def _canonical_utxo(text: str) -> str:
    """bech32 and cashaddr are case-insensitive (never mixed); Base58 legacy is not."""
    if _single_case(text) and _BECH32.fullmatch(text.lower()):
        return text.lower()
    payload = text
    if payload[: len(_CASHADDR_PREFIX)].lower() == _CASHADDR_PREFIX:
        payload = payload[len(_CASHADDR_PREFIX) :]
    if _single_case(payload) and _CASHADDR.fullmatch(payload.lower()):
        return _CASHADDR_PREFIX + payload.lower()
    return text


def _canonical_ton(text: str) -> str:
    """A TON account as `workchain:hex`, from its raw or checksummed user-friendly form."""
    raw = _TON_RAW.fullmatch(text)
    if raw:
        return f"{int(raw.group(1))}:{raw.group(2).lower()}"
    if not _TON_FRIENDLY.fullmatch(text):
        return text
    try:
        data = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return text
    if len(data) != 36 or data[0] not in _TON_MAINNET_FLAGS:
        return text
    if int.from_bytes(data[34:], "big") != _crc16_xmodem(data[:34]):
        return text
    workchain = int.from_bytes(data[1:2], "big", signed=True)
    return f"{workchain}:{data[2:34].hex()}"


def _crc16_xmodem(data: bytes) -> int:
    """The checksum of a TON user-friendly address."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
