"""Wire protocol: one round-trip test per event type, envelope stamping, and every error path."""

from __future__ import annotations

import json

import pytest

from stenod import protocol as p
from stenod.protocol import (
    AudioSpan,
    Final,
    Heartbeat,
    Partial,
    ProtocolError,
    SpeechEnd,
    SpeechStart,
    StatusEvent,
    UnknownEvent,
)

SESSION = "0b7c6a8e-2f0e-4d5b-9a51-7d7c3c1f0a11"
WALL_NS = 1_795_901_400_123_456_789  # 2026-11-28T21:30:00.123456Z


def stamped(event, seq=7):
    return p.stamp(event, SESSION, seq, wall_ns=WALL_NS, mono_ns=123_456)


EXAMPLES = [
    Partial(utt=3, rev=2, audio=AudioSpan(1000, 2500), text="hello wor", stable_len=5),
    Final(
        utt=3,
        rev=4,
        audio=AudioSpan(1000, 2600),
        text="hello world — ça va",
        stable_len=len("hello world — ça va"),
        model="distil-whisper/distil-medium.en",
        timings={"speech_end_ms": 2600, "endpoint_ms": 2900, "inference_ms": 180.5, "publish_wall": "x"},
    ),
    SpeechStart(utt=3, audio_ms=1000),
    SpeechEnd(utt=3, audio_ms=2600),
    StatusEvent(state="ready", detail={"model": "tiny.en", "device": "cpu"}),
    Heartbeat(last_seq=41),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.TYPE)
def test_round_trip_every_event_type(event):
    event = stamped(event)
    frames = p.encode(event)
    assert len(frames) == 2 and all(isinstance(f, bytes) for f in frames)
    assert frames[0] == event.TOPIC.encode()
    body = json.loads(frames[1].decode("utf-8"))
    assert body["v"] == p.SCHEMA_VERSION == 1
    assert body["type"] == event.TYPE
    assert body["session"] == SESSION and body["seq"] == 7 and body["t_mono_ns"] == 123_456
    decoded = p.decode(frames)
    assert type(decoded) is type(event)
    assert decoded == event


def test_every_event_type_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(p.EVENT_TYPES)


def test_topics_and_types():
    assert Partial.TOPIC == "stenod.v1.transcript.partial"
    assert Final.TOPIC == "stenod.v1.transcript.final"
    assert SpeechStart.TOPIC == "stenod.v1.speech.start"
    assert SpeechEnd.TOPIC == "stenod.v1.speech.end"
    assert StatusEvent.TOPIC == "stenod.v1.status"
    assert Heartbeat.TOPIC == "stenod.v1.heartbeat"
    assert [c.TYPE for c in p.EVENT_TYPES] == ["partial", "final", "speech.start", "speech.end", "status", "heartbeat"]
    assert all(c.TOPIC.startswith(p.TOPIC_PREFIX) for c in p.EVENT_TYPES)
    assert not isinstance(SpeechEnd(utt=1, audio_ms=0), SpeechStart)


def test_audio_is_an_object_on_the_wire():
    body = json.loads(p.encode(EXAMPLES[0])[1])
    assert body["audio"] == {"start_ms": 1000, "end_ms": 2500}


def test_non_ascii_text_is_utf8_not_escaped():
    frames = p.encode(EXAMPLES[1])
    assert "ça va".encode("utf-8") in frames[1]


def test_stamp_fills_envelope_and_leaves_original():
    event = SpeechStart(utt=1, audio_ms=0)
    assert (event.session, event.seq, event.t_wall, event.t_mono_ns) == ("", 0, "", 0)
    s = p.stamp(event, "abc", 99, wall_ns=1_795_901_400_000_001_999, mono_ns=5)
    assert (s.session, s.seq, s.t_mono_ns, s.utt) == ("abc", 99, 5, 1)
    assert s.t_wall == "2026-11-28T21:30:00.000001Z"
    assert event.seq == 0


def test_stamp_uses_clocks_by_default():
    s = p.stamp(Heartbeat(last_seq=0), "abc", 1)
    assert s.t_mono_ns > 0
    assert len(s.t_wall) == len("2026-11-24T21:30:00.123456Z") and s.t_wall.endswith("Z")


def test_format_rfc3339():
    assert p.format_rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert p.format_rfc3339(1_234_567_890_999_999_999) == "2009-02-13T23:31:30.999999Z"


def test_unknown_fields_are_ignored():
    topic, body = p.encode(stamped(EXAMPLES[0]))
    obj = json.loads(body)
    obj["future_field"] = {"anything": [1, 2]}
    obj["audio"]["future"] = True
    decoded = p.decode([topic, json.dumps(obj).encode()])
    assert decoded == stamped(EXAMPLES[0])


def test_fields_with_defaults_may_be_absent():
    topic, body = p.encode(stamped(EXAMPLES[1]))
    obj = json.loads(body)
    del obj["timings"]
    assert p.decode([topic, json.dumps(obj).encode()]).timings == {}


def test_integral_floats_are_accepted_as_integers():
    topic, body = p.encode(stamped(EXAMPLES[5]))
    obj = json.loads(body)
    obj["last_seq"] = 41.0
    decoded = p.decode([topic, json.dumps(obj).encode()])
    assert decoded.last_seq == 41 and isinstance(decoded.last_seq, int)


def test_frames_may_be_bytearray_or_memoryview():
    topic, body = p.encode(EXAMPLES[2])
    assert p.decode([bytearray(topic), memoryview(body)]) == EXAMPLES[2]


def _mutated(event, **changes):
    topic, body = p.encode(stamped(event))
    obj = json.loads(body)
    for key, value in changes.items():
        if value is KeyError:
            del obj[key]
        else:
            obj[key] = value
    return [topic, json.dumps(obj).encode()]


@pytest.mark.parametrize(
    "frames, message",
    [
        ([b"stenod.v1.heartbeat"], "expected 2 frames"),
        ([b"stenod.v1.heartbeat", b"{}", b"{}"], "expected 2 frames"),
        ([b"stenod.v1.heartbeat", b"\xff\xfe"], "UTF-8"),
        ([b"\xff", b"{}"], "UTF-8"),
        ([b"stenod.v1.heartbeat", b"{not json"], "not valid JSON"),
        ([b"stenod.v1.heartbeat", b"[1, 2]"], "JSON object"),
        (_mutated(EXAMPLES[5], v=KeyError), "missing field 'v'"),
        (_mutated(EXAMPLES[5], v=2), "unsupported schema version"),
        (_mutated(EXAMPLES[5], type="partial"), "does not match the topic"),
        (_mutated(EXAMPLES[5], type=KeyError), "does not match the topic"),
        (_mutated(EXAMPLES[5], last_seq=KeyError), "missing field 'last_seq'"),
        (_mutated(EXAMPLES[5], seq=KeyError), "missing field 'seq'"),
        (_mutated(EXAMPLES[5], session=KeyError), "missing field 'session'"),
        (_mutated(EXAMPLES[5], last_seq="41"), "last_seq: expected an integer"),
        (_mutated(EXAMPLES[5], last_seq=True), "last_seq: expected an integer"),
        (_mutated(EXAMPLES[5], last_seq=1.5), "last_seq: expected an integer"),
        (_mutated(EXAMPLES[5], seq=-1), "seq must be"),
        (_mutated(EXAMPLES[5], seq=2**64), "seq must be"),
        (_mutated(EXAMPLES[5], session=5), "session: expected a string"),
        (_mutated(EXAMPLES[0], text=None), "text: expected a string"),
        (_mutated(EXAMPLES[0], stable_len=99), "stable_len"),
        (_mutated(EXAMPLES[0], audio=[0, 1]), "audio: expected an object"),
        (_mutated(EXAMPLES[0], audio={"start_ms": 0}), "missing field 'end_ms'"),
        (_mutated(EXAMPLES[0], audio={"start_ms": 5, "end_ms": 1}), "audio span"),
        (_mutated(EXAMPLES[0], audio={"start_ms": "0", "end_ms": 1}), "audio.start_ms: expected an integer"),
        (_mutated(EXAMPLES[1], model=KeyError), "missing field 'model'"),
        (_mutated(EXAMPLES[1], timings=[1]), "timings: expected an object"),
        (_mutated(EXAMPLES[2], utt=-1), "utt"),
        (_mutated(EXAMPLES[4], detail="x"), "detail: expected an object"),
        (_mutated(EXAMPLES[4], state=KeyError), "missing field 'state'"),
    ],
)
def test_decode_rejects_malformed(frames, message):
    with pytest.raises(ProtocolError) as info:
        p.decode(frames)
    assert message in str(info.value)
    assert not isinstance(info.value, UnknownEvent)


@pytest.mark.parametrize("topic", [b"stenod.v1.transcript.word", b"stenod.v2.heartbeat", b"other"])
def test_unknown_topic_raises_unknown_event(topic):
    with pytest.raises(UnknownEvent, match="unknown topic"):
        p.decode([topic, b"{}"])
    assert issubclass(UnknownEvent, ProtocolError)


def test_encode_rejects_unserialisable_and_nan():
    with pytest.raises(ProtocolError, match="cannot encode"):
        p.encode(StatusEvent(state="x", detail={"obj": object()}))
    with pytest.raises(ProtocolError, match="cannot encode"):
        p.encode(Final(utt=1, rev=0, audio=AudioSpan(0, 1), text="", stable_len=0, model="m",
                       timings={"x": float("nan")}))  # fmt: skip
    with pytest.raises(ProtocolError, match="not a protocol event"):
        p.encode(AudioSpan(0, 1))  # type: ignore[arg-type]


def test_construction_validates():
    with pytest.raises(ValueError, match="stable_len"):
        Partial(utt=1, rev=0, audio=AudioSpan(0, 1), text="ab", stable_len=3)
    with pytest.raises(ValueError, match="audio span"):
        AudioSpan(-1, 0)
    with pytest.raises(ValueError, match="last_seq"):
        Heartbeat(last_seq=-1)


def test_events_are_frozen():
    with pytest.raises(AttributeError):
        EXAMPLES[5].last_seq = 3  # type: ignore[misc]


# ------------------------------------------------------------------------------ control socket


def test_parse_request_ok():
    assert p.parse_request(b'{"cmd": "snapshot", "limit": 5}') == {"cmd": "snapshot", "limit": 5}


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"x" * (p.MAX_REQUEST_BYTES + 1), "too large"),
        (b"\xff", "UTF-8"),
        (b"{nope", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'["cmd"]', "JSON object"),
        (b"{}", "'cmd'"),
        (b'{"cmd": 3}', "'cmd'"),
        (b'{"cmd": ""}', "'cmd'"),
    ],
)
def test_parse_request_errors(raw, message):
    with pytest.raises(ProtocolError, match=message):
        p.parse_request(raw)


def test_check_fields_names_what_a_command_does_not_take():
    p.check_fields({"cmd": "ptt", "action": "start"}, ("action",))
    p.check_fields({"cmd": "status"})
    with pytest.raises(ProtocolError, match=r"^snapshot: unknown field 'limit' \(it takes no other field\)$"):
        p.check_fields({"cmd": "snapshot", "limit": 5})
    with pytest.raises(ProtocolError, match=r"^ptt: unknown fields 'key', 'x' \(it takes 'action'\)$"):
        p.check_fields({"cmd": "ptt", "key": "f9", "action": "start", "x": 1}, ("action",))


def test_request_at_size_limit_is_parsed():
    raw = b'{"cmd":"x","pad":"' + b"a" * (p.MAX_REQUEST_BYTES - 20) + b'"}'
    assert len(raw) <= p.MAX_REQUEST_BYTES
    assert p.parse_request(raw)["cmd"] == "x"


def test_replies_round_trip():
    ok = p.ok_reply(seq=12, finals=[{"utt": 1, "text": "hé"}])
    assert json.loads(ok) == {"ok": True, "seq": 12, "finals": [{"utt": 1, "text": "hé"}]}
    assert p.parse_reply(ok)["seq"] == 12
    err = p.error_reply("unknown command 'x'")
    assert p.parse_reply(err) == {"ok": False, "error": "unknown command 'x'"}
    with pytest.raises(ValueError):
        p.ok_reply(ok=False)


@pytest.mark.parametrize(
    "raw, message",
    [(b"[]", "JSON object"), (b"{}", "'ok'"), (b'{"ok": 1}', "'ok'"), (b'{"ok": false}', "'error'"), (b"{", "JSON")],
)
def test_parse_reply_errors(raw, message):
    with pytest.raises(ProtocolError, match=message):
        p.parse_reply(raw)
