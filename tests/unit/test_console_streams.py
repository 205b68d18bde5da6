"""StreamSlots: live streams capped per user, a slot freed however its stream ends."""

from __future__ import annotations

import contextlib

import pytest

from gateway.web.console.streams import StreamSlots, TooManyStreams


def test_a_user_gets_the_cap_and_no_more_others_are_not_affected() -> None:
    slots = StreamSlots(per_user=2)
    with contextlib.ExitStack() as held:
        held.enter_context(slots.hold("ito"))
        held.enter_context(slots.hold("ito"))
        with pytest.raises(TooManyStreams), slots.hold("ito"):
            pass
        with slots.hold("suzuki"):
            assert slots.open_count("suzuki") == 1
        assert slots.open_count("ito") == 2
    assert slots.open_count("ito") == 0


def test_a_stream_that_fails_frees_its_slot() -> None:
    slots = StreamSlots(per_user=1)
    with pytest.raises(ConnectionResetError), slots.hold("ito"):
        raise ConnectionResetError
    with slots.hold("ito"):
        assert slots.open_count("ito") == 1


async def test_closing_ends_the_streams_open_now_and_not_later_ones() -> None:
    slots = StreamSlots(per_user=2)
    with slots.hold("ito") as first:
        assert not await first.pause(0)
        slots.close()  # the server shuts down
        assert await first.pause(60)  # returns at once
        with slots.hold("ito") as later:  # a later stream (the same app served again) is not ended
            assert not await later.pause(0)
    slots.close()
    assert slots.open_count("ito") == 0
