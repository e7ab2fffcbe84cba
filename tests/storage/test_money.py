import pytest

from storage.money import AmountError, Money, format_money, parse_amount


@pytest.mark.parametrize(
    ("typed", "cents", "currency"),
    [
        ("$40k", 4_000_000, "USD"),
        ("40,000", 4_000_000, "USD"),
        ("1.2M", 120_000_000, "USD"),
        ("€5k", 500_000, "EUR"),
        ("USD 250k", 25_000_000, "USD"),
        ("40k EUR", 4_000_000, "EUR"),
        ("£1,250.50", 125_050, "GBP"),
        ("3 million", 300_000_000, "USD"),
        ("$120k/year", 12_000_000, "USD"),
        ("  $40K  ", 4_000_000, "USD"),
        # European separators: thousands with dots, decimals with a comma — never read 1000× too low.
        ("€40.000", 4_000_000, "EUR"),
        ("40.000,00", 4_000_000, "USD"),
        ("€1.500.000", 150_000_000, "EUR"),
        ("12,5k", 1_250_000, "USD"),
        ("$1.250M", 125_000_000, "USD"),  # with a suffix the dot is a decimal point
        ("1.5", 150, "USD"),
    ],
)
def test_amounts_as_sales_people_type_them(typed, cents, currency):
    assert parse_amount(typed) == Money(cents=cents, currency=currency)


def test_empty_is_no_answer():
    assert parse_amount("") is None
    assert parse_amount("   ") is None


@pytest.mark.parametrize(
    "typed", ["40 grand", "abc", "-5", "$", "1.2.3", "0", "$40k or so", "XYZ 40", "9" * 20]
)
def test_malformed_amounts_get_a_clear_error_echoing_the_input(typed):
    with pytest.raises(AmountError) as e:
        parse_amount(typed)
    assert typed.strip()[:20] in str(e.value)
    assert (
        "$40k" in str(e.value)
        or "zero" in str(e.value)
        or "larger" in str(e.value)
        or "currency" in str(e.value)
    )


def test_format_money_is_short():
    assert format_money(4_000_000) == "$40k"
    assert format_money(120_000_000) == "$1.2M"
    assert format_money(124_000_000) == "$1.24M"  # a sum of $40k and $1.2M is not rounded away
    assert format_money(1_234_500) == "$12.3k"
    assert format_money(99_950_000) == "$1M"  # 999,500 rounds up at three digits
    assert format_money(10_000_000) == "$100k" and format_money(50_000_000_000) == "$500M"
    assert format_money(10**14) == "$1000B"
    assert format_money(500_000, "EUR") == "€5k"
    assert format_money(95_000) == "$950"
    assert format_money(None) == "—"
    assert format_money(4_000_000, "CHF") == "40k CHF"
