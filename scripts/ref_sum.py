#!/usr/bin/env python3
"""Independent reference for `parakit sum`: the correctly rounded exact sum of a file.

Usage: ref_sum.py FILE.npy|FILE.bin [--mode exact|fast] [--abs]

Reads a .npy file (float64 '<f8' or float32 '<f4', C order, versions 1-3; parsed with
`struct`, no NumPy needed) or a raw little-endian float64 file (.bin, .f64, .raw) and
prints the exact sum of its elements rounded once to the nearest double (ties to even),
formatted with "%.17g". The exact sum is computed with Python integers on x * 2^1074,
so it depends on neither the order of the terms nor any floating-point algorithm.

Special values: any NaN, or both +inf and -inf, gives "nan"; otherwise an infinity gives
"inf"/"-inf"; a finite exact sum whose rounding overflows gives "inf"/"-inf". A zero
sum prints "-0" only when there is at least one term and every term is -0.0.

--mode is accepted for symmetry with the CLI and does not change the output: the
reference is always exact (tests of the fast mode compare against it with a tolerance).
--abs also prints, after the sum, the correctly rounded sum of |x| (useful to bound
the error allowed for the fast mode).

If NumPy is importable it is used only to split the raw bits into sign, exponent and
mantissa quickly; the accumulation stays in exact Python integers.
Exit status: 0 on success, 2 on a bad or unreadable file.
"""

import argparse
import ast
import os
import struct
import sys

CHUNK_ELEMENTS = 1 << 20
# The exact sum is kept as an integer S with value S * 2^-1074 (2^-1074 is the
# smallest subnormal double, so every finite float64 or float32 is an integer there).
SCALE_BITS = 1074
# |value| >= DBL_MAX + ulp(DBL_MAX)/2 = 2^1024 - 2^970 rounds to infinity.
OVERFLOW_THRESHOLD = ((1 << 1024) - (1 << 970)) << SCALE_BITS


class InputProblem(Exception):
    """A file that cannot be summed; the message names the file."""


def probe(path):
    """Returns (fmt, data_offset, count) where fmt is 'f8' or 'f4'."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:6] == b"\x93NUMPY":
                major = head[6]
                if major == 1:
                    (hlen,) = struct.unpack("<H", head[8:10])
                    start = 10
                elif major in (2, 3):
                    (hlen,) = struct.unpack("<I", head[8:12])
                    start = 12
                else:
                    raise InputProblem(f"{path}: unsupported .npy version {major}")
                f.seek(start)
                text = f.read(hlen)
                if len(text) != hlen:
                    raise InputProblem(f"{path}: truncated .npy header")
                try:
                    header = ast.literal_eval(text.decode("latin1"))
                except (ValueError, SyntaxError) as e:
                    raise InputProblem(f"{path}: bad .npy header: {e}") from None
                descr = header.get("descr")
                if descr in ("<f8", "|f8", "=f8"):
                    fmt = "f8"
                elif descr in ("<f4", "|f4", "=f4"):
                    fmt = "f4"
                else:
                    raise InputProblem(f"{path}: unsupported dtype {descr!r}")
                shape = header.get("shape")
                count = 1
                for d in shape:
                    count *= d
                if header.get("fortran_order") and sum(1 for d in shape if d > 1) > 1:
                    raise InputProblem(f"{path}: fortran_order True is not supported")
                offset = start + hlen
                item = 8 if fmt == "f8" else 4
                if size != offset + count * item:
                    raise InputProblem(
                        f"{path}: data is {size - offset} bytes, header promises {count * item}")
                return fmt, offset, count
    except OSError as e:
        raise InputProblem(f"{path}: {e.strerror}") from None
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".bin", ".f64", ".raw"):
        raise InputProblem(f"{path}: unknown file type {ext!r}")
    if size % 8:
        raise InputProblem(f"{path}: size {size} is not a multiple of 8")
    return "f8", 0, size // 8


def _fields_f8(bits):
    """(negative, exponent field, mantissa field) of a float64 bit pattern."""
    return bits >> 63, (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)


class ExactAccumulator:
    """Exact sum of doubles (or floats) via per-exponent integer buckets."""

    def __init__(self, fmt):
        self.fmt = fmt
        if fmt == "f8":
            self.exp_all_ones, self.mant_bits = 0x7FF, 52
        else:
            self.exp_all_ones, self.mant_bits = 0xFF, 23
        self.buckets = {}  # exponent field -> signed sum of integer significands
        self.abs_buckets = {}
        self.count = 0
        self.nonneg_zero_or_nonzero = False  # some term is not -0.0
        self.nan = False
        self.pos_inf = False
        self.neg_inf = False

    def add_bits(self, words, want_abs):
        """Adds the elements whose raw bit patterns are `words` (ints)."""
        mb = self.mant_bits
        mmask = (1 << mb) - 1
        top = 1 << mb
        sign_shift = 63 if self.fmt == "f8" else 31
        emask = self.exp_all_ones
        neg_zero = 1 << sign_shift
        buckets = self.buckets
        abs_buckets = self.abs_buckets
        for w in words:
            self.count += 1
            if w != neg_zero:
                self.nonneg_zero_or_nonzero = True
            e = (w >> mb) & emask
            m = w & mmask
            if e == emask:
                if m:
                    self.nan = True
                elif w >> sign_shift:
                    self.neg_inf = True
                else:
                    self.pos_inf = True
                continue
            if e:
                m |= top
            else:
                e = 1  # subnormals share the scale of the smallest normal exponent
            if w >> sign_shift:
                buckets[e] = buckets.get(e, 0) - m
            else:
                buckets[e] = buckets.get(e, 0) + m
            if want_abs:
                abs_buckets[e] = abs_buckets.get(e, 0) + m

    def _total(self, buckets):
        # In units of 2^-1074, a significand m with exponent field e is worth
        # float64: m * 2^(e - 1075) -> m << (e - 1);
        # float32: m * 2^(e - 150)  -> m << (e + 924).
        # (Subnormals were filed under e = 1, which gives their true scale.)
        off = -1 if self.fmt == "f8" else 924
        return sum(v << (e + off) for e, v in buckets.items())

    def result(self, use_abs=False):
        if self.nan or (self.pos_inf and self.neg_inf):
            return float("nan")
        if self.pos_inf:
            return float("inf")
        if self.neg_inf:
            return float("-inf") if not use_abs else float("inf")
        s = self._total(self.abs_buckets if use_abs else self.buckets)
        if s == 0:
            if not use_abs and self.count > 0 and not self.nonneg_zero_or_nonzero:
                return -0.0
            return 0.0
        if abs(s) >= OVERFLOW_THRESHOLD:
            return float("inf") if s > 0 else float("-inf")
        # int / int true division is correctly rounded (round half to even) in CPython.
        return s / (1 << SCALE_BITS)


def iter_words(path, fmt, offset, count):
    item = 8 if fmt == "f8" else 4
    code = "Q" if fmt == "f8" else "I"
    try:
        import numpy  # optional: only used to turn bytes into Python ints faster

        dtype = "<u8" if fmt == "f8" else "<u4"
    except ImportError:
        numpy = None
    with open(path, "rb") as f:
        f.seek(offset)
        left = count
        while left > 0:
            n = min(left, CHUNK_ELEMENTS)
            buf = f.read(n * item)
            if len(buf) != n * item:
                raise InputProblem(f"{path}: truncated data")
            if numpy is not None:
                yield numpy.frombuffer(buf, dtype=dtype).tolist()
            else:
                yield struct.unpack(f"<{n}{code}", buf)
            left -= n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--mode", choices=("exact", "fast"), default="exact")
    ap.add_argument("--abs", action="store_true", help="also print the sum of |x|")
    args = ap.parse_args(argv)
    try:
        fmt, offset, count = probe(args.file)
        acc = ExactAccumulator(fmt)
        for words in iter_words(args.file, fmt, offset, count):
            acc.add_bits(words, args.abs)
    except InputProblem as e:
        print(f"ref_sum.py: error: {e}", file=sys.stderr)
        return 2
    out = "%.17g" % acc.result()
    if args.abs:
        out += " %.17g" % acc.result(use_abs=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
