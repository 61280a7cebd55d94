"""What a DynamoDB write can store: its number type and its key and item sizes, in one place.

The scores-CSV contract checks every row against these before anything is written (so a CSV
the write would choke on half-way is refused whole), and the table layer serializes numbers
through the same function, so "the contract accepts it" and "DynamoDB stores it exactly" are
one rule. Sources: DynamoDB Developer Guide, "Supported data types" (Number: up to 38 digits
of precision, magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125) and "Service,
account, and table quotas" (partition key 2048 bytes, sort key 1024 bytes, item 400 KB);
boto3's serializer uses ``DYNAMODB_CONTEXT`` (38 digits, Emin -128, Emax 126, and it traps
Rounded, Inexact, Overflow, Underflow and Clamped), so a number it would reject is refused here.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException

from boto3.dynamodb.types import DYNAMODB_CONTEXT

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_ITEM_BYTES = 400 * 1024
# DynamoDB's documented magnitude range; boto3's context alone would let 1E-131..1E-165 through
# (as subnormals) and DynamoDB would then refuse them.
SMALLEST_MAGNITUDE = Decimal("1E-130")
LARGEST_MAGNITUDE_EXCLUSIVE = Decimal("1E+126")


_RULE = "38 digits, magnitude 1E-130 to below 1E+126"


class NumberNotStorable(ValueError):
    """A number DynamoDB cannot hold exactly (too many digits, too large or too small)."""


def dynamodb_number(value: int | float) -> Decimal:
    """``value`` as the exact Decimal DynamoDB will store, or NumberNotStorable saying why.

    A float becomes the Decimal of its shortest repr (0.1 is stored as 0.1, not as
    0.1000000000000000055...), the text the scores CSV carries too.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NumberNotStorable(f"not a number: {type(value).__name__}")
    if isinstance(value, int) and abs(value) >= 10**38:
        # Checked before str(): a huge int would take long to print (or hit Python's limit).
        raise NumberNotStorable(f"not storable as a DynamoDB number: {_RULE} (Rounded)")
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        number = DYNAMODB_CONTEXT.create_decimal(text)
    except DecimalException as exc:
        raise NumberNotStorable(
            f"{text} is not storable as a DynamoDB number: {_RULE} ({type(exc).__name__})"
        ) from None
    if not number.is_finite():
        raise NumberNotStorable(f"{text} is not storable as a DynamoDB number: not finite")
    if number and not SMALLEST_MAGNITUDE <= abs(number) < LARGEST_MAGNITUDE_EXCLUSIVE:
        raise NumberNotStorable(f"{text} is not storable as a DynamoDB number: {_RULE}")
    return number
