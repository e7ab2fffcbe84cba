"""Read money amounts the way sales people type them: "$40k", "40,000", "1.2M", "€5k", "USD 250k"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
CODES = {
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "INR",
    "CAD",
    "AUD",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "NZD",
    "SGD",
    "BRL",
    "MXN",
}
SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}
HINT = 'Try an amount like "$40k", "40,000", "1.2M" or "€5k".'

_AMOUNT = re.compile(
    r"^(?P<pre>[$€£¥₹]|[A-Za-z]{3}\s*)?\s*(?P<num>\d{1,3}(?:[,\s]\d{3})+(?:\.\d+)?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+,\d{1,2}|\d+(?:\.\d+)?|\.\d+)\s*"
    r"(?P<suf>k|m|mm|b|bn|thousand|million|billion)?\s*(?P<post>[A-Za-z]{3}|[$€£¥₹])?"
    r"(?:\s*(?:/|per|a|an)\s*(?:year|yr|annum|y))?$",
    re.IGNORECASE,
)
_WORDS = {"thousand": "k", "million": "m", "billion": "b"}


class AmountError(ValueError):
    """The text is not an amount; the message says what was typed and what would work."""


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str

    def __str__(self) -> str:
        return format_money(self.cents, self.currency)


def parse_amount(text: str) -> Money | None:
    """None for an empty answer; AmountError for anything that is not clearly an amount."""
    raw = (text or "").strip()
    if not raw:
        return None
    match = _AMOUNT.match(raw)
    if not match:
        raise AmountError(f"I couldn't read “{raw[:60]}” as an amount. {HINT}")
    currency = "USD"
    for part in (match.group("pre"), match.group("post")):
        if not part:
            continue
        part = part.strip()
        code = SYMBOLS.get(part) or part.upper()
        if code not in CODES:
            raise AmountError(f"I don't know the currency “{part}” in “{raw[:60]}”. {HINT}")
        currency = code
    suffix = (match.group("suf") or "").lower()
    suffix = _WORDS.get(suffix, suffix)
    number = _plain_number(match.group("num"), has_suffix=bool(suffix))
    try:
        value = Decimal(number) * SUFFIXES[suffix]
    except (InvalidOperation, KeyError):
        raise AmountError(f"I couldn't read “{raw[:60]}” as an amount. {HINT}") from None
    if value <= 0:
        raise AmountError(f"The amount “{raw[:60]}” must be more than zero. {HINT}")
    if value >= Decimal(10) ** 13:
        raise AmountError(f"“{raw[:60]}” is larger than any deal I can keep. {HINT}")
    return Money(cents=int((value * 100).to_integral_value()), currency=currency)


_DOT_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?")
_COMMA_DECIMAL = re.compile(r"\d+,\d{1,2}")


def _plain_number(num: str, *, has_suffix: bool) -> str:
    """ "40,000" and "40 000" -> 40000; European "40.000" and "40.000,00" -> 40000 (not $40 — a deal is
    never typed with three decimals); "1.250M" keeps its decimal point; "40,50" -> 40.50."""
    if not has_suffix and _DOT_THOUSANDS.fullmatch(num):
        return num.replace(".", "").replace(",", ".")
    if _COMMA_DECIMAL.fullmatch(num):
        return num.replace(",", ".")
    return num.replace(",", "").replace(" ", "")


def format_money(cents: int | None, currency: str = "USD") -> str:
    """Short human form: $40k, $1.2M, $1.24M, €5k, $950."""
    if cents is None:
        return "—"
    symbol = {v: k for k, v in SYMBOLS.items()}.get(currency or "USD")
    value = cents / 100
    text = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    for size, letter in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B")):
        if value < size * 0.9995:
            break
        scaled = value / size
        # Three significant digits, so a total of $40k + $1.2M reads $1.24M, not $1.2M.
        digits = 2 if scaled < 9.995 else 1 if scaled < 99.95 else 0
        number = f"{scaled:.{digits}f}"
        text = (number.rstrip("0").rstrip(".") if "." in number else number) + letter
    return f"{symbol}{text}" if symbol else f"{text} {currency}"
