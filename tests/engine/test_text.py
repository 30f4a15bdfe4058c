from basalt.engine.text import TextStream

PIECES = {1: b"Hello", 2: b" wor", 3: b"ld", 4: b"\xe2\x82", 5: b"\xac", 6: b" END", 7: b"!"}


def stream(stop: tuple[str, ...] = ()) -> TextStream:
    return TextStream(PIECES.__getitem__, stop)


def test_plain_text_passes_through() -> None:
    s = stream()
    assert [s.push(t) for t in (1, 2, 3)] == ["Hello", " wor", "ld"]


def test_multibyte_character_split_across_tokens_is_released_whole() -> None:
    s = stream()
    assert s.push(4) == ""
    assert s.push(5) == "€"


def test_stop_sequence_split_across_tokens_is_never_released() -> None:
    s = stream(("world",))
    out = s.push(1) + s.push(2)
    assert out == "Hello "  # " wor" could start "world": held back
    assert s.push(3) == ""
    assert s.stopped_by == "world"


def test_held_text_is_released_when_the_stop_sequence_does_not_complete() -> None:
    s = stream(("world!",))
    out = s.push(1) + s.push(2) + s.push(3)
    assert out == "Hello "
    assert s.push(6) == "world END"
    assert s.stopped_by is None
    assert s.flush() == ""


def test_earliest_stop_sequence_wins() -> None:
    s = stream(("END", "wor"))
    assert s.push(1) + s.push(2) == "Hello "
    assert s.stopped_by == "wor"
