"""Independent references for the farm: a reader of the journal layouts documented in
lib/include/parakit/io/journal.hpp (with its own CRC-32C for version 1, and Python's xxhash
package, an independent XXH3 implementation, for version 2), and the farm's checksum computed
from its definition (FarmReport::checksum in lib/include/parakit/patterns/farm_report.hpp) for
the queue demo, the cost demo's ramp and command farms.

The checksum: the sum mod 2^64, over finished tasks, of XXH3-64 of the task id's 8
little-endian bytes with the seed digest ^ (status << 56), where the digest of a task that returned a value is XXH3-64 of
its encoding (8 bytes for a u64), 0 for one that threw, and for a command XXH3-64 of
{u64 XXH3-64(command), u32 exit code, u32 signal, u8 status}."""
import math
import struct

import xxhash

MASK = (1 << 64) - 1
OK, FAILED, TIMED_OUT, INTERRUPTED = 0, 1, 2, 3


def xxh3(data):
    return xxhash.xxh3_64_intdigest(data)


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Journal layouts (integers little-endian):
# version 1: header  "PKJRNL01" | u32 length | u32 crc32c(payload) |
#                    payload = u64 identity | u64 task_count | u16 kind_length | kind
#            records u32 payload_length | u32 crc32c(the rest) | u64 task_id | u8 status | payload
# version 2: header  "PKJRNL02" | u32 length | u64 xxh3(payload) |
#                    payload = u8 layout (2) | u8 hash (2) | u16 kind_length | u64 identity |
#                              u64 task_count | kind
#            records u32 payload_length | u64 xxh3(the rest) | u64 task_id | u8 status |
#                    u32 attempts | i64 completed_ns | u64 runtime_ns | payload
# ---------------------------------------------------------------------------------------------
HEAD = {1: 17, 2: 41}         # record bytes before the payload
CHECKED_FROM = {1: 8, 2: 12}  # the checksum covers the record from here


class JournalRecord:
    def __init__(self, version, offset, length, fields, payload):
        self.version, self.offset, self.length, self.payload = version, offset, length, payload
        self.task_id, self.status = fields[0], fields[1]
        self.attempts, self.completed_ns, self.runtime_ns = (fields[2:] if version == 2
                                                             else (0, 0, 0))

    @property
    def size(self):
        return HEAD[self.version] + self.length

    @property
    def end(self):
        return self.offset + self.size

    @property
    def payload_at(self):
        return self.offset + HEAD[self.version]

    @property
    def status_at(self):
        return self.offset + CHECKED_FROM[self.version] + 8


class Journal:
    """What a journal file holds: the header, every valid record up to the first bad one, and
    how many bytes from there on were not valid (0 when the file scans clean)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.size = len(data)
        magic = data[:8]
        assert magic in (b"PKJRNL01", b"PKJRNL02"), f"{path}: bad magic {magic!r}"
        self.version = 1 if magic == b"PKJRNL01" else 2
        if self.version == 1:
            length, check = struct.unpack_from("<II", data, 8)
            payload = data[16:16 + length]
            assert len(payload) == length and crc32c(payload) == check, f"{path}: header"
            self.identity, self.task_count, kind_length = struct.unpack_from("<QQH", payload, 0)
            self.kind = payload[18:18 + kind_length].decode()
            self.header_bytes = 16 + length
        else:
            length, check = struct.unpack_from("<IQ", data, 8)
            payload = data[20:20 + length]
            assert len(payload) == length and xxh3(payload) == check, f"{path}: header"
            layout, hash_id, kind_length, self.identity, self.task_count = struct.unpack_from(
                "<BBHQQ", payload, 0)
            assert (layout, hash_id) == (2, 2), f"{path}: layout {layout}, hash {hash_id}"
            self.kind = payload[20:20 + kind_length].decode()
            self.header_bytes = 20 + length
        head = HEAD[self.version]
        self.records = []
        offset = self.header_bytes
        while offset + head <= len(data):
            length = struct.unpack_from("<I", data, offset)[0]
            end = offset + head + length
            if end > len(data):
                break
            covered = data[offset + CHECKED_FROM[self.version]:end]
            if self.version == 1:
                good = crc32c(covered) == struct.unpack_from("<I", data, offset + 4)[0]
                fields = struct.unpack_from("<QB", covered, 0)
            else:
                good = xxh3(covered) == struct.unpack_from("<Q", data, offset + 4)[0]
                fields = struct.unpack_from("<QBIqQ", covered, 0)
            if not good or fields[1] > INTERRUPTED:
                break
            self.records.append(JournalRecord(self.version, offset, length, fields,
                                              data[offset + head:end]))
            offset = end
        self.valid_bytes = offset
        self.bad_bytes = len(data) - offset

    def ids(self, status=None):
        return [r.task_id for r in self.records if status is None or r.status == status]


# ---------------------------------------------------------------------------------------------
# The checksum
# ---------------------------------------------------------------------------------------------
def checksum_term(task_id, status, digest):
    return xxhash.xxh3_64_intdigest(struct.pack("<Q", task_id), seed=digest ^ (status << 56))


def checksum(terms):
    """terms: (id, status, digest) of every finished task; the JSON's "checksum" field."""
    return f"{sum(checksum_term(*t) for t in terms) & MASK:016x}"


def u64_digest(value):
    return xxh3(struct.pack("<Q", value))


def queue_checksum(n, fail_every=0):
    """The queue demo: task i returns i (a u64); with --fail-every K (every attempt failing)
    the tasks with i % K == K - 1 fail and have digest 0."""
    return checksum((i, FAILED, 0) if fail_every and i % fail_every == fail_every - 1
                    else (i, OK, u64_digest(i)) for i in range(n))


def llround(x):
    """C's llround for x >= 0: halves away from zero."""
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def ramp_cost_ns(lo, hi, task_id, n):
    """The cost demo's ramp:LO:HI (seconds, as parse_seconds makes them) for task `task_id`."""
    seconds = lo + (hi - lo) * (0.0 if n <= 1 else task_id / (n - 1))
    return llround(min(seconds, 3600.0) * 1e9)


def ramp_checksum(lo, hi, n, fail_every=0):
    """The cost demo with --cost ramp:LO:HI: task i returns its cost in ns (a u64)."""
    return checksum((i, FAILED, 0) if fail_every and i % fail_every == fail_every - 1
                    else (i, OK, u64_digest(ramp_cost_ns(lo, hi, i, n))) for i in range(n))


def command_digest(command, exit_code, signal, status):
    return xxh3(struct.pack("<QIIB", xxh3(command.encode()), exit_code & 0xFFFFFFFF, signal,
                            status))


def commands_checksum(outcomes):
    """outcomes: {line id: (command, exit code, signal, status)} of every command run."""
    return checksum((i, o[3], command_digest(*o)) for i, o in outcomes.items())
