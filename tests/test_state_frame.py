"""Frames and payloads: what a reader accepts as a committed state, and what it refuses."""

import numpy as np
import pytest

from voweler.state.frame import HEADER_SIZE, Frame, decode_state, encode_state, peek


def test_a_frame_round_trips():
    frame = Frame.build(42, b"payload")
    data = frame.to_bytes()
    assert len(data) == frame.size == HEADER_SIZE + 7
    assert Frame.parse(data) == frame
    assert peek(data) == (42, 7, frame.digest)


def test_trailing_bytes_after_a_frame_are_ignored():
    # a slot is larger than the frame it holds
    frame = Frame.build(1, b"abc")
    assert Frame.parse(frame.to_bytes() + b"\xff" * 100) == frame


@pytest.mark.parametrize("position", [0, 5, 8, 16, 24, HEADER_SIZE, HEADER_SIZE + 50, -1])
def test_any_changed_byte_makes_a_frame_invalid(position):
    data = bytearray(Frame.build(9, bytes(range(100))).to_bytes())
    data[position] ^= 0x40
    assert Frame.parse(bytes(data)) is None


def test_a_frame_cut_short_is_invalid():
    data = Frame.build(9, b"x" * 100).to_bytes()
    for end in (0, 10, HEADER_SIZE, HEADER_SIZE + 99):
        assert Frame.parse(data[:end]) is None


def test_a_torn_copy_mixing_two_frames_is_invalid():
    # what a reader gets when a writer overwrites the slot while the reader copies it
    old = Frame.build(1, b"a" * 1000).to_bytes()
    new = Frame.build(3, b"b" * 1000).to_bytes()
    for cut in (10, HEADER_SIZE, 500):
        assert Frame.parse(new[:cut] + old[cut:]) is None
        assert Frame.parse(old[:cut] + new[cut:]) is None


def test_zeroed_memory_holds_no_frame():
    assert peek(bytes(4096)) is None
    assert Frame.parse(bytes(4096)) is None


def test_state_payload_round_trips_values_and_arrays():
    state = {
        "name": "x",
        "count": 3,
        "rate": 0.1,
        "flags": [True, None],
        "weights": np.array([0.1, -2.5, 1e-300]),
        "table": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    decoded = decode_state(encode_state(state))
    assert decoded.keys() == state.keys()
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            assert decoded[key].dtype == value.dtype and decoded[key].shape == value.shape
            assert decoded[key].tobytes() == value.tobytes()
        else:
            assert decoded[key] == value


def test_decoded_arrays_are_read_only_unless_asked_for_writable():
    payload = encode_state({"w": np.zeros(3)})
    with pytest.raises(ValueError):
        decode_state(payload)["w"][0] = 1.0
    writable = decode_state(payload, writable=True)["w"]
    writable[0] = 1.0
    assert decode_state(payload)["w"][0] == 0.0


def test_values_json_cannot_carry_are_refused():
    with pytest.raises(ValueError):
        encode_state({"bias": float("nan")})
    with pytest.raises(TypeError):
        encode_state({"objects": np.array([object()])})
