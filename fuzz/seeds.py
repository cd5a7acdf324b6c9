#!/usr/bin/env python3
"""Write seed corpora for the cargo-fuzz targets from real data.

Usage: seeds.py FLV OUT_DIR

FLV is a short file made by ffmpeg (H.264 + AAC). Each target gets a directory OUT_DIR/TARGET holding
inputs in the exact layout that target's entry point (`src/rtmp/fuzzing.rs`, `src/media/fuzzing.rs`)
expects, so the fuzzer starts from valid handshakes, chunk streams, AMF0 commands and media instead of
having to discover their structure from nothing.
"""

import hashlib
import hmac
import os
import random
import struct
import sys

rng = random.Random(7)  # Seeds are reproducible run to run.


# ---------------------------------------------------------------- FLV


def read_flv(path):
    """Return (header bytes, [(kind, timestamp, payload)]) of an FLV file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"FLV":
        raise SystemExit(f"{path}: not an FLV file")
    header_len = struct.unpack(">I", data[5:9])[0]
    pos = header_len + 4
    tags = []
    while pos + 11 <= len(data):
        kind = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        payload = data[pos + 11 : pos + 11 + size]
        if len(payload) < size:
            break
        tags.append((kind, ts, payload))
        pos += 11 + size + 4
    return data, tags


# ---------------------------------------------------------------- AMF0


def amf_number(v):
    return b"\x00" + struct.pack(">d", v)


def amf_bool(v):
    return b"\x01" + (b"\x01" if v else b"\x00")


def amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_null():
    return b"\x05"


def amf_props(props):
    out = b""
    for key, value in props:
        k = key.encode()
        out += struct.pack(">H", len(k)) + k + value
    return out + b"\x00\x00\x09"


def amf_object(props):
    return b"\x03" + amf_props(props)


def amf_ecma(props):
    return b"\x08" + struct.pack(">I", len(props)) + amf_props(props)


def amf_strict_array(values):
    return b"\x0a" + struct.pack(">I", len(values)) + b"".join(values)


def amf_date(ms):
    return b"\x0b" + struct.pack(">d", ms) + b"\x00\x00"


def amf_long_string(s):
    b = s.encode()
    return b"\x0c" + struct.pack(">I", len(b)) + b


def connect_command(app="live", tc_url="rtmp://127.0.0.1/live"):
    return (
        amf_string("connect")
        + amf_number(1)
        + amf_object(
            [
                ("app", amf_string(app)),
                ("type", amf_string("nonprivate")),
                ("flashVer", amf_string("FMLE/3.0 (compatible; Lavf61.7.100)")),
                ("tcUrl", amf_string(tc_url)),
                ("fpad", amf_bool(False)),
                ("capabilities", amf_number(15)),
                ("audioCodecs", amf_number(4071)),
                ("videoCodecs", amf_number(252)),
                ("videoFunction", amf_number(1)),
                ("objectEncoding", amf_number(0)),
            ]
        )
    )


def command(name, txn, *args):
    return amf_string(name) + amf_number(txn) + amf_null() + b"".join(args)


def metadata():
    return (
        amf_string("@setDataFrame")
        + amf_string("onMetaData")
        + amf_ecma(
            [
                ("duration", amf_number(0)),
                ("width", amf_number(320)),
                ("height", amf_number(240)),
                ("videodatarate", amf_number(0)),
                ("framerate", amf_number(25)),
                ("videocodecid", amf_number(7)),
                ("audiodatarate", amf_number(0)),
                ("audiosamplerate", amf_number(44100)),
                ("audiosamplesize", amf_number(16)),
                ("stereo", amf_bool(False)),
                ("audiocodecid", amf_number(10)),
                ("encoder", amf_string("Lavf61.7.100")),
                ("filesize", amf_number(0)),
            ]
        )
    )


# ---------------------------------------------------------------- RTMP chunks

MSG_SET_CHUNK_SIZE = 1
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK = 5
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF0 = 18
MSG_COMMAND_AMF0 = 20


def basic_header(fmt, csid):
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([(fmt << 6) | 1]) + struct.pack("<H", csid - 64)


class ChunkWriter:
    """Splits messages into chunks: fmt 0 first, fmt 1 when only length/type change, fmt 3 after."""

    def __init__(self, chunk_size=128):
        self.chunk_size = chunk_size
        self.last = {}

    def message(self, csid, type_id, stream_id, timestamp, payload):
        out = bytearray()
        previous = self.last.get(csid)
        ts_field = min(timestamp, 0xFFFFFF)
        extended = struct.pack(">I", timestamp) if timestamp >= 0xFFFFFF else b""
        if previous and previous[0] == stream_id and timestamp >= previous[1] and not extended:
            delta = timestamp - previous[1]
            out += basic_header(1, csid)
            out += delta.to_bytes(3, "big") + len(payload).to_bytes(3, "big") + bytes([type_id])
        else:
            out += basic_header(0, csid)
            out += ts_field.to_bytes(3, "big") + len(payload).to_bytes(3, "big") + bytes([type_id])
            out += struct.pack("<I", stream_id) + extended
        self.last[csid] = (stream_id, timestamp)
        for i in range(0, max(len(payload), 1), self.chunk_size):
            if i > 0:
                out += basic_header(3, csid) + extended
            out += payload[i : i + self.chunk_size]
        return bytes(out)

    def set_chunk_size(self, size):
        out = self.message(2, MSG_SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size))
        self.chunk_size = size
        return out


def media_messages(writer, tags, stream_id, budget):
    """Chunks for the FLV's tags (audio csid 4, video csid 6, data csid 5) until `budget` bytes."""
    out = b""
    for kind, ts, payload in tags:
        if kind == 8:
            piece = writer.message(4, MSG_AUDIO, stream_id, ts, payload)
        elif kind == 9:
            piece = writer.message(6, MSG_VIDEO, stream_id, ts, payload)
        else:
            continue
        if len(out) + len(piece) > budget:
            break
        out += piece
    return out


def publish_session(tags, chunk_size, budget, set_size=None):
    """What a publisher sends after connect: createStream, publish, metadata, media."""
    w = ChunkWriter(chunk_size)
    out = b""
    if set_size:
        out += w.set_chunk_size(set_size)
    out += w.message(2, MSG_WINDOW_ACK, 0, 0, struct.pack(">I", 2500000))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("releaseStream", 2, amf_string("s")))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("FCPublish", 3, amf_string("s")))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("createStream", 4))
    out += w.message(
        8, MSG_COMMAND_AMF0, 1, 0, command("publish", 5, amf_string("s"), amf_string("live"))
    )
    out += w.message(5, MSG_DATA_AMF0, 1, 0, metadata())
    out += media_messages(w, tags, 1, budget - len(out))
    return out


def play_session(chunk_size):
    w = ChunkWriter(chunk_size)
    out = w.message(3, MSG_COMMAND_AMF0, 0, 0, command("createStream", 2))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("getStreamLength", 3, amf_string("s")))
    out += w.message(
        8, MSG_COMMAND_AMF0, 1, 0, command("play", 4, amf_string("s"), amf_number(-2000))
    )
    # User control: SetBufferLength(stream 1, 3000 ms), then an acknowledgement.
    out += w.message(2, MSG_USER_CONTROL, 0, 0, struct.pack(">HII", 3, 1, 3000))
    out += w.message(2, MSG_ACK, 0, 0, struct.pack(">I", 4096))
    out += w.message(8, MSG_COMMAND_AMF0, 1, 0, command("closeStream", 5))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("deleteStream", 6, amf_number(1)))
    return out


def unpublish_session(tags, chunk_size):
    out = publish_session(tags[:6], chunk_size, 1 << 20)
    w = ChunkWriter(chunk_size)
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("FCUnpublish", 9, amf_string("s")))
    out += w.message(3, MSG_COMMAND_AMF0, 0, 0, command("deleteStream", 10, amf_number(1)))
    return out


# ---------------------------------------------------------------- handshake

KEY_TAIL = bytes.fromhex("F0EEC24A8068BEE82E00D0D1029E7E576EEC5D2D29806FAB93B8E636CFEB31AE")
FP_KEY = b"Genuine Adobe Flash Player 001"


def digest_offset(block, schema):
    base = 8 if schema == 0 else 772
    return sum(block[base : base + 4]) % 728 + base + 4


def c1(schema):
    """A C1 block: simple (schema None) or with a Flash Player digest in `schema` 0 or 1."""
    block = bytearray(struct.pack(">I", 0) + (b"\x80\x00\x07\x02" if schema is not None else b"\0" * 4))
    block += bytes(rng.getrandbits(8) for _ in range(1536 - 8))
    if schema is not None:
        off = digest_offset(block, schema)
        digest = hmac.new(FP_KEY, bytes(block[:off] + block[off + 32 :]), hashlib.sha256).digest()
        block[off : off + 32] = digest
    return bytes(block)


# ---------------------------------------------------------------- PROXY v2

SIG = b"\r\n\r\n\0\r\nQUIT\n"


def proxy_v2(command_byte, family_byte, body):
    return SIG + bytes([command_byte, family_byte]) + struct.pack(">H", len(body)) + body


# ---------------------------------------------------------------- targets


def write(out_dir, target, name, data):
    d = os.path.join(out_dir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: seeds.py FLV OUT_DIR")
    flv, out = sys.argv[1], sys.argv[2]
    data, tags = read_flv(flv)
    audio = [t for t in tags if t[0] == 8]
    video = [t for t in tags if t[0] == 9]
    scripts = [t for t in tags if t[0] == 18]

    # handshake: the first byte (0x03, the C0) is also where the input is split in two.
    for name, schema in (("simple", None), ("schema0", 0), ("schema1", 1)):
        hello = b"\x03" + c1(schema)
        write(out, "handshake", name, hello + c1(None))
        write(out, "handshake", name + "-c0c1", hello)
    # A handshake whose C2 is followed by the first chunk bytes.
    write(out, "handshake", "with-chunks", b"\x03" + c1(0) + c1(None) + b"\x03\x00\x00\x00")

    # srt_handshake: FFmpeg 5.1's libsrt as a caller (induction, conclusions with SID and KMREQ),
    # the same packets src/srt/handshake_tests.rs reads.
    for name, packet in (
        ("induction", "8000000000000000000000e40000000000000004000000023f46e866000005dc000020000000000126c3a6a4000000000100007f000000000000000000000000"),
        ("conclusion-srs-id", "80000000000000000000025e0000000000000005000000053f46e866000005dc00002000ffffffff26c3a6a4123456780100007f0000000000000000000000000001000300010501000000bf00780000000500063a3a2123696c3d72632f65766d2c6d616275703d6873696c"),
        ("conclusion-kmreq", "800000000000000000000e9a000000000000000500040007243d6add000005dc00002000ffffffff0f0c8ffd123456780100007f0000000000000000000000000001000300010501000000bf00780000000500056c6275703a6873696576696c6d61632f0000003200030012122029010000000002000200000004084e883460cc8c82d78e7e7864aebf24c77acc535be76bc1bf3ffc82e5cb517de23020869ecc3d41df10fa820849a3e6c29e457642df172c16"),
    ):
        write(out, "srt_handshake", name, bytes.fromhex(packet))
    write(out, "srt_handshake", "mediamtx-id", b"publish:live/cam:user:pass?token=1")

    # amf0: real command and data payloads.
    write(out, "amf0", "connect", connect_command())
    write(out, "amf0", "metadata", metadata())
    write(out, "amf0", "publish", command("publish", 5, amf_string("s"), amf_string("live")))
    write(
        out,
        "amf0",
        "result",
        amf_string("_result")
        + amf_number(1)
        + amf_object([("fmsVer", amf_string("FMS/3,0,1,123")), ("capabilities", amf_number(31))])
        + amf_object([("level", amf_string("status")), ("code", amf_string("NetConnection.Connect.Success"))]),
    )
    write(
        out,
        "amf0",
        "rare-types",
        amf_strict_array([amf_number(1), amf_string("a"), amf_null(), b"\x06"])
        + amf_date(1.7e12)
        + amf_long_string("x" * 70000)[:80]
        + amf_ecma([]),
    )
    for _, _, payload in scripts[:2]:
        write(out, "amf0", "flv-script", payload)

    # chunk_decoder: whole client streams (connect onwards) at a few chunk sizes, fed 97 bytes at a time.
    for size in (128, 4096):
        w = ChunkWriter(128)
        head = b""
        if size != 128:
            head += w.set_chunk_size(size)
        head += w.message(3, MSG_COMMAND_AMF0, 0, 0, connect_command())
        write(out, "chunk_decoder", f"publish-{size}", head + publish_session(tags, size, 15000))
        write(out, "chunk_decoder", f"play-{size}", head + play_session(size))
    w = ChunkWriter(128)
    big = w.message(400, MSG_VIDEO, 1, 0xFFFFFF + 5, video[1][2] if len(video) > 1 else b"\0" * 300)
    write(out, "chunk_decoder", "extended-ts-3byte-csid", big)

    # server_session: what follows a real client's connect (which set the chunk size to 4096).
    write(out, "server_session", "publish", publish_session(tags, 4096, 15000))
    write(out, "server_session", "publish-128", publish_session(tags, 4096, 15000, set_size=128))
    write(out, "server_session", "play", play_session(4096))
    write(out, "server_session", "unpublish", unpublish_session(tags, 4096))

    # proxy_protocol: the header kinds an LB sends (and a LOCAL health check).
    v4 = bytes([203, 0, 113, 7, 127, 0, 0, 1]) + struct.pack(">HH", 51000, 1935)
    v6 = bytes(15) + b"\x01" + bytes(15) + b"\x01" + struct.pack(">HH", 51000, 1935)
    tlv = b"\x04" + struct.pack(">H", 3) + b"abc"
    write(out, "proxy_protocol", "v4", proxy_v2(0x21, 0x11, v4) + b"\x03")
    write(out, "proxy_protocol", "v6", proxy_v2(0x21, 0x21, v6))
    write(out, "proxy_protocol", "v4-tlv", proxy_v2(0x21, 0x11, v4 + tlv))
    # The pod-mode credential (TLV 0xE0: timestamp, HMAC-SHA256 under the fuzz key).
    stamp = struct.pack(">Q", 1_800_000_000)
    tag = hmac.new(b"fuzz key", b"oryx proxy v2 credential v1" + b"\x11" + v4 + stamp, hashlib.sha256).digest()
    credential = b"\xe0" + struct.pack(">H", 40) + stamp + tag
    write(out, "proxy_protocol", "v4-credential", proxy_v2(0x21, 0x11, v4 + tlv + credential))
    write(out, "proxy_protocol", "local", proxy_v2(0x20, 0x00, b""))
    write(out, "proxy_protocol", "unix", proxy_v2(0x21, 0x31, bytes(216)))
    write(out, "proxy_protocol", "not-proxy", b"\x03" + bytes(40))

    # http_request_target: HOST\nTARGET as players and LBs send them.
    for name, host, target in [
        ("flv", b"127.0.0.1:8080", b"/live/cam.flv"),
        ("flv-vhost", b"", b"/live/cam.flv?vhost=v.example&token=1"),
        ("m3u8", b"live.example.com", b"/live/cam.m3u8"),
        ("ts", b"", b"/live/cam-1-17.ts"),
        ("absolute", b"x", b"http://h.example:8080/app/s.flv?vhost="),
        ("nested", b"", b"/a/b/c.flv"),
    ]:
        write(out, "http_request_target", name, host + b"\n" + target)

    # media_flv: the file's start (first byte 'F' = 70 is also the split point) and other splits.
    write(out, "media_flv", "start", data[:30000])
    write(out, "media_flv", "short", data[:4000])
    write(out, "media_flv", "split-1", b"\x01" + data[1:3000])

    # media_avc: the configuration record, its SPS, and AVCC frames.
    if video:
        record = video[0][2][5:]
        write(out, "media_avc", "config-record", record)
        if len(record) > 8:
            sps_len = struct.unpack(">H", record[6:8])[0]
            write(out, "media_avc", "sps", record[8 : 8 + sps_len])
        for i, (_, _, payload) in enumerate(video[1:4]):
            write(out, "media_avc", f"frame-{i}", payload[5:4000])

    # media_aac: the AudioSpecificConfig, and a few variants (SBR, 7.1, explicit frequency).
    if audio:
        write(out, "media_aac", "asc", audio[0][2][2:])
    write(out, "media_aac", "he-aac", bytes([0x2B, 0x92, 0x08, 0x00]))
    write(out, "media_aac", "explicit-freq", bytes([0x17, 0x80, 0x00, 0xAC, 0x44, 0x10]))
    write(out, "media_aac", "eight-ch", bytes([0x11, 0xB8]))

    # media_hls_segmenter: frames as `kind | ts (4) | len (2) | payload` (kind 0 audio, 1 video, 2 data).
    frames = b""
    kinds = {8: 0, 9: 1, 18: 2}
    for kind, ts, payload in tags:
        frame = bytes([kinds.get(kind, 2)]) + struct.pack(">IH", ts, min(len(payload), 0xFFFF))
        frame += payload[:0xFFFF]
        if len(frames) + len(frame) > 30000:
            break
        frames += frame
    write(out, "media_hls_segmenter", "stream", frames)
    video_only = b"".join(
        bytes([1]) + struct.pack(">IH", ts, min(len(p), 0xFFFF)) + p[:0xFFFF] for _, ts, p in video[:30]
    )
    write(out, "media_hls_segmenter", "video-only", video_only[:30000])
    # media_record_muxers: the same frame encoding.
    write(out, "media_record_muxers", "stream", frames)
    write(out, "media_record_muxers", "video-only", video_only[:30000])

    # media_ertmp / media_codecs: E-RTMP headers (FFmpeg 9's shapes: HEVC, AV1, VP9, Opus; ModEx,
    # multitrack, command, metadata) and the configuration records and frames behind them.
    av1c = bytes.fromhex("81000c000a0b020000051da7ef805f0008")
    vpcc = bytes.fromhex("01000000000a820202020000")
    opus_head = b"OpusHead" + bytes.fromhex("01023801" "80bb0000" "000000")
    hevc_sps = bytes.fromhex("42010101600000030090000003000003001ea01420616595952930bc05a0200000030020000003014122")
    hvcc = bytes.fromhex("0101600000009000000000001ef000fcfdf8f800000f01") + b"\x21\x00\x01" + struct.pack(">H", len(hevc_sps)) + hevc_sps
    for name, seed in [
        ("hevc-start", b"\x90hvc1" + hvcc),
        ("hevc-key", b"\x91hvc1\x00\x00\xc8\x00\x00\x00\x02\x26\x01"),
        ("av1-start", b"\x90av01" + av1c),
        ("av1-key", b"\x91av01\x12\x00" + av1c[4:] + b"\x32\x02\x10\x00"),
        ("vp9-modex", b"\x97\x02\x00\x01\x02\x03vp09\x82\x49\x83\x42\x00\x09\xf0\x05\xf0"),
        ("multitrack", b"\x96\x11av01\x00\x00\x00\x02\x12\x00\x01\x00\x00\x01\x07"),
        ("many-codecs", b"\x96\x21hvc1\x00\x00\x00\x04\x00\x00\x00\x07"),
        ("metadata", b"\xd4hvc1\x02\x00\x09colorInfo\x03\x00\x00\x09"),
        ("opus-start", b"\x90Opus" + opus_head),
        ("opus-channels", b"\x94Opus\x01\x01\x00\x00\x00\x04"),
        ("audio-multitrack", b"\x95\x10Opus\x00\x01\xf8"),
    ]:
        write(out, "media_ertmp", name, seed)
    for name, seed in [("hvcc", hvcc), ("hevc-sps", hevc_sps), ("av1c", av1c), ("vpcc", vpcc),
                       ("opus-head", opus_head), ("av1-tu", b"\x12\x00" + av1c[4:] + b"\x32\x02\x10\x00"),
                       ("vp9-key", bytes.fromhex("8249834200 09f005f0".replace(" ", "")))]:
        write(out, "media_codecs", name, seed)

    # fast_parse: the example topologies and the diagnostics fixtures, as written.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for folder in ("examples/configs", "tests/diagnostics"):
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if name.endswith(".kdl"):
                with open(os.path.join(root, folder, name), "rb") as f:
                    write(out, "fast_parse", name, f.read())


if __name__ == "__main__":
    main()
