#!/usr/bin/env python3
# Write the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<harness>/).
# The files are committed; run this again after changing a harness's script
# format.  Each seed is a short script in the harness's input language (see
# the step functions in fuzz_wire.c and fuzz_ctl.c).
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

KW_MAGIC = 0x5750554B
KW_INFO, KW_ATTACH, KW_STAT = 1, 3, 6


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


# --- fuzz_wire: ctl = conn | op << 2 | fd << 4 ---------------------------------

def fdbits(nfd):
    # bit 4: pass descriptors, 1 + bits 5-7 of them
    return 0 if not nfd else 0x10 | (nfd - 1) << 5


def w_struct(conn, typ, chan=0, size=1, abi=1, fd=False, nfd=0, caps=False):
    # the flags byte: bit 2, the client's KW_CAP_CTL_RW (three memfds in the reply)
    return bytes([conn | 1 << 2 | fdbits(nfd or (1 if fd else 0)), 4 if caps else 0, typ, chan,
                  size, abi])


def w_struct_magic(conn, magic, typ, chan=0, size=1, abi=1):
    return bytes([conn | 1 << 2, 1]) + u32(magic) + bytes([typ, chan, size, abi])


def kw_msg(typ, chan=0, size=1, abi=1, magic=KW_MAGIC, status=0):
    # magic type status abi chan size chan_cnt notify state flags caps spare
    return struct.pack("<12I", magic, typ, status, abi, chan, size, 0, 0, 0, 0, 0, 0)


def w_raw(conn, msg, fd=False):
    assert len(msg) == 48
    return bytes([conn | 0 << 2 | (0x10 if fd else 0)]) + msg


def w_dgram(conn, data, fd=False):
    return bytes([conn | 2 << 2 | (0x10 if fd else 0), len(data)]) + data


def w_hangup(conn):
    return bytes([conn | 3 << 2 | 0x10])


W_WAIT = bytes([3 << 2])
W_SHUTDOWN = bytes([3 << 2 | 0x20])

WIRE = {
    "info": w_struct(0, KW_INFO),
    "info-twice": w_struct(0, KW_INFO) + w_struct(0, KW_INFO),
    "attach": w_struct(0, KW_ATTACH) + W_WAIT,
    "attach-ctl-rw": w_struct(0, KW_ATTACH, caps=True) + W_WAIT,
    "attach-raw": w_raw(0, kw_msg(KW_ATTACH, chan=2)) + W_WAIT,
    "attach-busy": w_struct(0, KW_ATTACH, chan=1) + w_struct(1, KW_ATTACH, chan=1),
    "attach-hangup-reattach": w_struct(0, KW_ATTACH) + w_hangup(0) + W_WAIT
    + w_struct(2, KW_ATTACH) + W_WAIT + w_hangup(2),
    "attach-all": w_struct(0, KW_ATTACH, chan=0) + w_struct(1, KW_ATTACH, chan=1)
    + w_struct(2, KW_ATTACH, chan=2) + W_WAIT + W_WAIT + W_WAIT + W_WAIT,
    "attach-range": w_struct(0, KW_ATTACH, chan=7),
    "attach-badsize": w_struct(0, KW_ATTACH, size=2),
    "attach-abi": w_struct(0, KW_ATTACH, abi=2),
    "attach-after-info": w_struct(0, KW_INFO) + w_struct(0, KW_ATTACH),
    "attach-twice": w_struct(0, KW_ATTACH) + w_struct(0, KW_ATTACH),
    "bad-magic": w_struct_magic(0, 0x12345678, KW_INFO),
    "bad-type": w_struct(0, 9) + w_struct(1, 2) + w_struct(2, 4),
    "short": w_dgram(0, kw_msg(KW_INFO)[:10]),
    "long": w_dgram(0, kw_msg(KW_INFO) + b"x" * 52),
    "long-attach": w_dgram(0, kw_msg(KW_ATTACH) + b"\0" * 20),
    "empty": w_dgram(0, b""),
    "chan-junk": w_struct(0, KW_ATTACH) + w_dgram(0, b"hello") + w_raw(0, kw_msg(KW_INFO))
    + w_dgram(0, b""),
    "with-fd": w_struct(0, KW_INFO, fd=True) + w_struct(1, KW_ATTACH, fd=True)
    + w_dgram(1, b"w", fd=True) + w_dgram(2, b"", fd=True),
"fds-4": w_struct(0, KW_INFO, nfd=4) + w_struct(1, KW_ATTACH, nfd=4),
    "fds-5": w_struct(0, KW_INFO, nfd=5) + w_struct(1, KW_ATTACH, nfd=8),
    "fds-on-chan": w_struct(0, KW_ATTACH) + w_struct(0, KW_INFO, nfd=8) + W_WAIT,
    "shutdown": w_struct(0, KW_ATTACH) + w_struct(1, KW_INFO) + W_WAIT + W_SHUTDOWN
    + w_struct(2, KW_INFO) + w_struct(3, KW_ATTACH, chan=1) + W_WAIT + w_hangup(2),
    "shutdown-idle": W_SHUTDOWN + W_WAIT + w_struct(0, KW_ATTACH, chan=9),
    "status-set": bytes([0 | 1 << 2, 2, KW_ATTACH, 0, 1, 1]) + u32(0xFFFFFFFF),
    "stat": w_struct(0, KW_ATTACH) + w_struct(1, KW_STAT) + w_struct(2, KW_INFO)
    + w_struct(2, KW_STAT),
    "stat-shutdown": w_struct(0, KW_ATTACH) + W_SHUTDOWN + W_WAIT + w_struct(1, KW_STAT),
}

# --- fuzz_ctl: op bytes (peer 0-7, kern 8-15, 0x10 copy, 0x20/0x21 events) ----

def c_tw(v):
    return bytes([0]) + u32(v)


def c_len(v):
    return bytes([1]) + u32(v)


def c_wait(v):
    return bytes([2]) + u32(v)


def c_data(off, data):
    return bytes([3]) + u16(off) + bytes([len(data)]) + data


def c_ctlbytes(off, v):
    return bytes([4]) + u32(v) + u16(off)


def c_honest(n):
    return bytes([5]) + u16(n)


C_CLOSEP = bytes([6])


def c_flip(bit):
    return bytes([7, bit])


C_POLL = bytes([8])
C_RECV = bytes([9])
C_RECVC = bytes([9 | 0x10])


def c_send(n, fill=0x41):
    return bytes([10]) + u16(n) + bytes([fill])


C_PASS = bytes([11])
C_TXBUF = bytes([12])


def c_commit(n):
    return bytes([13]) + u16(n)


C_WAIT = bytes([14 | 0x10])
C_POLLWAIT = bytes([15])
C_KCLOSE = bytes([0x20])
C_DETACH = bytes([0x21])
C_UNLOAD = bytes([0x61])


def c_jump(back):
    # first step only: start at seq 2^30 - 1 - back
    return bytes([0x22 | back << 6])


def sleep_then(how_wake, peer):
    # the sleep callback: one byte (peer op << 2 | wake), then the peer op's operands
    return bytes([peer[0] << 2 | how_wake]) + peer[1:]


def tw(seq, st=0):
    return seq << 2 | st


CTL = {
    "exchange": C_RECVC + c_send(5) + c_honest(3) + c_data(0, b"abc") + C_RECVC + C_RECV
    + C_PASS + c_honest(0) + C_POLL + C_TXBUF + c_commit(100) + c_honest(4096) + C_RECVC,
    "first-turn": C_POLL + C_RECVC + C_RECV + C_PASS + C_POLL,
    "state3": c_send(1) + c_tw(tw(1, 3)) + C_POLL + C_RECV + C_PASS,
    "shutdown-from-user": c_send(1) + c_tw(tw(1, 2)) + C_RECVC,
    "len-over-cap": c_send(1) + c_len(4097) + c_tw(tw(1)) + C_RECVC + C_POLL,
    "len-huge": c_send(1) + c_len(0xFFFFFFFF) + c_tw(tw(1)) + C_RECV,
    "len-after-turn": c_send(1) + c_honest(10) + C_RECVC + c_len(9999) + C_RECVC + C_PASS,
    "seq-flip": c_send(1) + c_tw(tw(5)) + C_POLL,
    "seq-back": c_send(1) + c_honest(1) + C_PASS + c_tw(tw(0)) + C_POLL,
    "bitflips": c_send(2) + c_honest(2) + c_flip(2) + C_POLL + c_flip(31) + C_RECV,
    "closing": c_send(1) + C_CLOSEP + C_POLL + C_RECV,
    # a look takes the turn and hands nothing out: the message still comes before the end
    "taken-then-close": c_send(8) + c_honest(16) + C_POLL + C_CLOSEP + C_RECVC + C_RECV,
    "taken-then-detach": c_send(8) + c_honest(16) + C_POLL + C_DETACH + C_RECVC + C_RECV,
    "toobig": c_send(4096 + 1) + c_send(4096) + C_POLL,
    "notturn": c_commit(1) + C_TXBUF + c_commit(5000) + c_commit(10) + c_commit(1),
    "wait-sleep-wake": c_send(1) + C_WAIT + sleep_then(0, c_honest(7)),
    "wait-sleep-garbage": c_send(1) + C_WAIT + sleep_then(0, c_tw(3)),
    "wait-timeouts": c_send(1) + C_WAIT + sleep_then(1, c_wait(1)) + sleep_then(1, c_wait(0))
    + sleep_then(2, C_CLOSEP),
    "wait-close": c_send(1) + C_WAIT + sleep_then(0, C_CLOSEP),
    "pollwait": c_send(1) + C_POLLWAIT + c_honest(2) + C_POLLWAIT,
    "detach": c_send(1) + C_DETACH + C_POLL + C_RECV + c_send(1),
    "unload": c_send(1) + C_UNLOAD + C_WAIT,
    "kern-close": C_KCLOSE + c_send(1) + c_honest(1) + C_RECV + C_PASS,
    "wait-bits": c_wait(0xFFFFFFFF) + c_send(1) + c_wait(3) + c_honest(1) + C_PASS,
    "ctl-page-bytes": c_ctlbytes(16, 0xDEADBEEF) + c_ctlbytes(4092, 1) + c_send(1)
    + c_honest(1) + C_RECVC,
    "wrap": c_jump(1) + (C_RECVC + c_send(3) + c_honest(2)) * 4 + C_POLL + C_RECVC,
    "wrap-garbage": c_jump(0) + c_send(1) + c_tw(tw(2)) + C_POLL,
    "wrap-stale": c_jump(3) + c_send(1) + c_honest(1) + C_PASS + c_honest(1) + c_send(1)
    + c_tw(tw(0x3FFFFFFD)) + C_POLL,
    "data-edges": c_send(4096, 0xFF) + c_data(4090, b"\x01" * 7) + c_honest(4096) + C_RECVC,
}


def write(name, seeds):
    # (Re)write the named seeds; files named by a SHA-1 are inputs the fuzzer
    # found that add coverage (libFuzzer -merge=1), kept as they are.
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)


if __name__ == "__main__":
    write("fuzz_wire", WIRE)
    write("fuzz_ctl", CTL)
    sys.exit(0)
