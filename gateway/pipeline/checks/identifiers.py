"""Check-digit validators for Japanese and card identifiers (pure arithmetic, no I/O)."""

from __future__ import annotations

from gateway.models import ascii_digits


def my_number_valid(digits: str) -> bool:
    """個人番号 (マイナンバー): 11 digits plus a check digit (行政手続番号利用法施行令 8条)."""
    if len(digits) != 12 or not ascii_digits(digits):
        return False
    body = [int(d) for d in digits[:11]]
    total = 0
    for n in range(1, 12):
        weight = n + 1 if n <= 6 else n - 5
        total += body[11 - n] * weight
    remainder = total % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return check == int(digits[11])


def corporate_number_valid(digits: str) -> bool:
    """法人番号: a leading check digit and 12 digits (法人番号の指定等に関する省令 2条)."""
    if len(digits) != 13 or not ascii_digits(digits):
        return False
    body = digits[1:]
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body)))
    return int(digits[0]) == 9 - total % 9


def luhn_valid(digits: str) -> bool:
    if not ascii_digits(digits) or len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def card_issuer_prefix(digits: str) -> bool:
    """Whether the number starts like a payment card (Visa, Mastercard, Amex, JCB, Diners, Discover)."""
    two, four = int(digits[:2]), int(digits[:4])
    return (
        digits[0] == "4"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 36, 38, 30, 65)
        or 3528 <= four <= 3589
        or digits.startswith("6011")
    )
