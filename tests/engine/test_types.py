"""Edge compatibility is explicit: same type, or INT into FLOAT; nothing else is implicit."""

import pytest

from graphflow.types import (
    BOOLEAN,
    BUILTIN_TYPES,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MASK,
    STRING,
    can_feed,
    coerce_literal,
    enum_type,
)


def test_every_type_feeds_itself():
    assert all(can_feed(t, t) for t in BUILTIN_TYPES.values())


def test_int_feeds_float_but_not_the_reverse():
    assert can_feed(INT, FLOAT)
    assert not can_feed(FLOAT, INT)


@pytest.mark.parametrize(
    ("source", "target"),
    [(BOOLEAN, INT), (INT, STRING), (STRING, FLOAT), (IMAGE, MASK), (MASK, IMAGE), (LATENT, IMAGE), (FLOAT, BOOLEAN)],
)
def test_no_other_implicit_conversion(source, target):
    assert not can_feed(source, target)


def test_enumerations_match_only_by_name():
    sampler = enum_type("SAMPLER", ["euler", "heun"])
    assert can_feed(sampler, enum_type("SAMPLER", ["euler", "heun", "lms"]))
    assert not can_feed(sampler, STRING) and not can_feed(STRING, sampler)


def test_literals_are_checked_strictly():
    assert INT.accepts_literal(3) and not INT.accepts_literal(3.0) and not INT.accepts_literal(True)
    assert FLOAT.accepts_literal(3) and FLOAT.accepts_literal(2.5) and not FLOAT.accepts_literal("2.5")
    assert BOOLEAN.accepts_literal(False) and not BOOLEAN.accepts_literal(0)
    assert not LATENT.accepts_literal({"samples": []})


def test_int_literal_into_float_becomes_float():
    assert isinstance(coerce_literal(FLOAT, 3), float)
    assert coerce_literal(INT, 3) == 3
