"""One spelling per chain: spellings of the same destination or transaction compare equal, and
spellings the chain tells apart (Base58 case, another tag, a mixed-case bech32) never do."""

from __future__ import annotations

import base64

import pytest

from state.chain_canonical import canonical_address, canonical_txhash, chain_family

ETH = "0x52908400098527886E0F7030069857D2E4169EE7"
TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
XRP = "rnMwwyTQMRQJT52h1MocV8jRGgxb4JF3KA"
BECH32 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
CASHADDR = "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"
TON_BOUNCEABLE = "EQDtFpEwcFAEcRe5mLVh2N6C0x-_hJEM7W61_JLnSF74p4q2"
TON_RAW = "0:ed1691307050047117b998b561d8de82d31fbf84910ced6eb5fc92e7485ef8a7"


def ton_friendly(raw: str, flags: int, *, url_safe: bool = True) -> str:
    """The user-friendly form of a raw TON address (flags 0x11 bounceable, 0x51 not)."""
    workchain, _, account = raw.partition(":")
    body = bytes([flags]) + int(workchain).to_bytes(1, "big", signed=True) + bytes.fromhex(account)
    crc = 0
    for byte in body:
        crc ^= byte << 8
        for _ in range(8):
            crc = (((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1) & 0xFFFF
    data = body + crc.to_bytes(2, "big")
    return (base64.urlsafe_b64encode if url_safe else base64.b64encode)(data).decode()


@pytest.mark.parametrize(
    ("network", "ours", "theirs", "their_tag"),
    [
        ("ETH", ETH, ETH.lower(), None),
        ("ERC20", ETH, "0X" + ETH[2:].upper(), None),
        ("BEP20", ETH, ETH[2:], None),
        ("XRP", f"{XRP}:12345", XRP, "12345"),
        ("XRP", f"{XRP}:12345", f"{XRP}:12345", "12345"),
        ("XRP", f"{XRP}:12345", f" {XRP}:012345 ", None),
        ("TON", f"{TON_BOUNCEABLE}:7", TON_RAW, "7"),
        ("TON", TON_BOUNCEABLE, ton_friendly(TON_RAW, 0x51), None),
        ("TON", TON_BOUNCEABLE, ton_friendly(TON_RAW, 0x11, url_safe=False), None),
        ("TON", TON_RAW, TON_RAW.upper().replace("0X", "0x"), None),
        ("BTC", BECH32, BECH32.upper(), None),
        ("BCH", CASHADDR, f"bitcoincash:{CASHADDR}", None),
        ("BCH", CASHADDR, f"BITCOINCASH:{CASHADDR.upper()}", None),
        ("TRC20", TRON, f" {TRON}", None),
    ],
)
def test_spellings_of_one_destination_are_equal(
    network: str, ours: str, theirs: str, their_tag: str | None
) -> None:
    assert canonical_address(network, ours) == canonical_address(network, theirs, their_tag)


@pytest.mark.parametrize(
    ("network", "ours", "theirs", "their_tag"),
    [
        ("TRC20", TRON, TRON.lower(), None),  # Base58 is case-sensitive
        ("TRC20", TRON, TRON.upper(), None),
        ("XRP", XRP, XRP.lower(), None),
        ("BTC", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1bvbmseystwetqtfn5au4m4gfg7xjanvn2", None),
        ("BTC", BECH32, BECH32[:10].upper() + BECH32[10:], None),  # mixed-case bech32 is invalid
        ("XRP", f"{XRP}:12345", XRP, "12346"),  # another tag is another destination
        ("XRP", f"{XRP}:12345", XRP, None),  # no tag is not our tag
        ("XRP", f"{XRP}:12345", f"{XRP}:12345", "999"),  # two different tags
        ("TON", TON_BOUNCEABLE, TON_BOUNCEABLE.lower(), None),
        ("TON", TON_BOUNCEABLE, ton_friendly(TON_RAW, 0x11 | 0x80), None),  # testnet form
        ("ETH", ETH, ETH[:-1] + "8", None),
        ("ETH", ETH, ETH, "1"),  # a tag where the chain has none
        ("DOGEX", "AbC", "abc", None),  # unknown network: text as written
    ],
)
def test_spellings_the_chain_tells_apart_stay_different(
    network: str, ours: str, theirs: str, their_tag: str | None
) -> None:
    assert canonical_address(network, ours) != canonical_address(network, theirs, their_tag)


@pytest.mark.parametrize(
    ("network", "spellings", "canonical"),
    [
        ("ETH", ["0xABCDEF01", "ABCDEF01", "0Xabcdef01", " 0xabcdef01"], "0xabcdef01"),
        ("TRC20", ["ABCDEF01", "0xabcdef01", "abcdef01"], "abcdef01"),
        ("BTC", ["ABCDEF01", "abcdef01"], "abcdef01"),
        ("TON", ["ABCDEF01", "abcdef01"], "abcdef01"),
        (None, ["0xABCDEF01", "0xabcdef01"], "0xabcdef01"),
        (
            "SOL",
            ["5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6"],
            None,
        ),
        ("TON", ["te6cckEBAQEAAgAAAEysuc0="], None),
    ],
)
def test_one_txhash_spelling_per_chain(
    network: str | None, spellings: list[str], canonical: str | None
) -> None:
    forms = {canonical_txhash(network, spelling) for spelling in spellings}
    assert forms == {canonical or spellings[0].strip()}  # None: non-hex, kept as written


def test_networks_and_tickers_name_their_family() -> None:
    assert chain_family("trc20") == chain_family("TRX") == "TRON"
    assert chain_family("ETH") == chain_family("BEP20") == "EVM"
    assert chain_family("USDT") is None and chain_family(None) is None
