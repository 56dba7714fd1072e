"""Prompt weight syntax: brackets, explicit weights, nesting, escapes and malformed input."""

import pytest

from graphflow.text.weights import parse_weighted


def approx(segments):
    return [(text, pytest.approx(weight)) for text, weight in segments]


def test_plain_text_has_weight_one():
    assert parse_weighted("a photo of a cat") == [("a photo of a cat", 1.0)]


def test_empty_prompt_gives_no_segments():
    assert parse_weighted("") == []


def test_round_brackets_multiply_by_1_1():
    assert parse_weighted("a (cat) sits") == approx([("a ", 1.0), ("cat", 1.1), (" sits", 1.0)])


def test_nested_round_brackets_multiply_again():
    assert parse_weighted("((cat))") == approx([("cat", 1.21)])
    assert parse_weighted("(((cat)))") == approx([("cat", 1.331)])


def test_explicit_weight_sets_the_weight():
    assert parse_weighted("a (red cat:1.3) b") == approx([("a ", 1.0), ("red cat", 1.3), (" b", 1.0)])


def test_explicit_weight_accepts_spaces_and_decimals_without_leading_digit():
    assert parse_weighted("(cat: 0.5 )") == approx([("cat", 0.5)])
    assert parse_weighted("(cat:.5)") == approx([("cat", 0.5)])


def test_explicit_weight_is_absolute_inside_outer_brackets_like_comfyui():
    assert parse_weighted("((cat:1.1))") == approx([("cat", 1.1)])


def test_brackets_inside_an_explicit_weight_multiply_it():
    assert parse_weighted("((cat):1.1)") == approx([("cat", 1.21)])
    assert parse_weighted("foo ((((lol (cat:666) attack):100))) baz") == approx(
        [("foo ", 1.0), ("lol ", 110.0), ("cat", 666.0), (" attack", 110.0), (" baz", 1.0)]
    )


def test_explicit_weight_covers_the_whole_group_it_closes():
    assert parse_weighted("((lol (cat:666) attack:100))") == approx(
        [("lol ", 100.0), ("cat", 666.0), (" attack", 100.0)]
    )


def test_square_brackets_divide_by_1_1():
    assert parse_weighted("a [dog]") == approx([("a ", 1.0), ("dog", 1 / 1.1)])
    assert parse_weighted("[[dog]]") == approx([("dog", 1 / 1.21)])


def test_square_and_round_brackets_combine():
    assert parse_weighted("([dog])") == approx([("dog", 1.0)])


def test_colon_without_a_number_is_text():
    assert parse_weighted("(time: noon)") == approx([("time: noon", 1.1)])


def test_escaped_brackets_are_literal_text():
    assert parse_weighted(r"\(cat\) \[dog\]") == [("(cat) [dog]", 1.0)]
    assert parse_weighted(r"(a \(b\):1.5)") == approx([("a (b)", 1.5)])


def test_escaped_backslash_stays_a_backslash():
    assert parse_weighted(r"a\\(b)") == approx([("a\\", 1.0), ("b", 1.1)])


def test_unmatched_closing_bracket_is_literal():
    assert parse_weighted("a) b] c") == [("a) b] c", 1.0)]


def test_unclosed_bracket_is_literal_but_groups_inside_still_count():
    assert parse_weighted("a (b (c) d") == approx([("a (b ", 1.0), ("c", 1.1), (" d", 1.0)])


def test_crossed_brackets_never_raise():
    assert parse_weighted("([a)]") == approx([("(", 1.0), ("a)", 1 / 1.1)])


def test_non_finite_weight_is_text():
    assert parse_weighted("(cat:inf)") == approx([("cat:inf", 1.1)])


def test_adjacent_equal_weights_merge():
    assert parse_weighted("(a)(b)") == approx([("ab", 1.1)])
