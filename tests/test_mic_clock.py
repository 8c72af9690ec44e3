"""MicClock, the microphone timeline's anchor, on synthetic callback timings (the live tests in
test_capture_live.py check it on a real PulseAudio)."""

from __future__ import annotations

from stenod.daemon.mic import MicClock

SR, BLOCK = 16000, 480
BLOCK_NS = BLOCK * 1_000_000_000 // SR


def feed(clock: MicClock, t0_ns: int, blocks: int, first: int = 0, late_ns=lambda k: 0, overflow_at=-1):
    """Blocks `first`..: block k's first sample captured at t0 + k * 30 ms, delivered as soon as
    its last one was, plus `late_ns(k)`."""
    for k in range(first, first + blocks):
        now = t0_ns + (k + 1) * BLOCK_NS + late_ns(k)
        clock.block(now, k * BLOCK, BLOCK, k == overflow_at)


def test_a_late_first_block_does_not_move_the_origin():
    clock = MicClock(fallback_ns=0)
    feed(clock, 10**12, 200, late_ns=lambda k: 900_000_000 if k < 3 else (k % 7) * 3_000_000)
    assert abs(clock.origin_ns - 10**12) < 1_000_000 and clock.anchored


def test_audio_that_arrives_in_one_burst_fixes_the_origin_by_its_last_block():
    """A sleeping sink wakes up: its first 2 s of audio arrive at once, then blocks come on time."""
    clock = MicClock(fallback_ns=0)
    burst = 2_000_000_000 // BLOCK_NS
    feed(clock, 10**12, 200, late_ns=lambda k: (burst - 1 - k) * BLOCK_NS + 5_000_000 if k < burst else 0)
    assert abs(clock.origin_ns - 10**12) < 1_000_000


def test_dropped_samples_are_caught_up_with_and_an_overflow_at_once():
    lag = 300_000_000  # 300 ms of audio lost by the driver after block 100: the counter lags by that
    clock = MicClock(fallback_ns=0)
    feed(clock, 10**12, 100)
    feed(clock, 10**12 + lag, 40, first=100)
    assert abs(clock.origin_ns - 10**12) < 1_000_000  # the window still holds the old bound
    feed(clock, 10**12 + lag, 400, first=140)  # more than two 5 s windows later
    assert abs(clock.origin_ns - (10**12 + lag)) < 1_000_000
    flagged = MicClock(fallback_ns=0)
    feed(flagged, 10**12, 100)
    feed(flagged, 10**12 + lag, 3, first=100, overflow_at=100)  # PortAudio says so: at once
    assert abs(flagged.origin_ns - (10**12 + lag)) < 1_000_000


def test_reanchor_after_a_reopen_follows_the_gap():
    clock = MicClock(fallback_ns=0)
    feed(clock, 10**12, 100)
    clock.reanchor()
    assert not clock.anchored
    gap = 4_000_000_000
    feed(clock, 10**12 + gap, 10, first=100)
    assert abs(clock.origin_ns - (10**12 + gap)) < 1_000_000
    assert abs(clock.mono_ns(100 * BLOCK) - (10**12 + gap + 100 * BLOCK_NS)) < 1_000_000
