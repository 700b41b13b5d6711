"""GIN access lines -> columns of requests (two ways in, one shape out).

``[GIN] 2025/02/20 - 16:34:14 | 200 |  7.69s | 10.0.0.1 | POST "/api/chat"`` (gin's
``defaultLogFormatter``), anywhere in a line, so journald (any locale), Docker ``--timestamps`` and
quoting prefixes need no separate pass. Both ways produce an ``Access`` batch for
``stats.LogStats.account``:

* ``GinParser.columns``: raw bytes of access lines cut at their four ``|``; each DISTINCT column
  value is checked against its part of ``GIN_RE`` (timestamps, statuses, clients and requests
  repeat), the latency column in one pass. Returns None, having changed nothing, when any line
  does not fit. Its column patterns accept a subset of what ``GIN_RE`` accepts (ASCII only where
  the text pattern is Unicode-aware), so a line it takes reads the same either way.
* ``GinParser.groups``: the groups of ``GIN_RE`` over decoded text (every line the column way refused).

tests/test_inventory_logs.py runs every recorded log both ways and requires the same result.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter, deque
from itertools import compress, islice, repeat
from operator import add, itemgetter, mul, ne, sub
from typing import NamedTuple, Optional

from .reader import COLOURS_BYTES

# One access line, anywhere in a line of text.
GIN_RE = re.compile(
    r"\[GIN\] (\d{4}/\d\d/\d\d - \d\d:\d\d:\d\d) \| *(\d{3}) \| *([0-9.]+)([a-zµμ]+)((?:[0-9.]+[a-zµμ]+)*) \| *(\S*) \| *"
    r'([A-Z]+) +"([^"?\n]*)[^"\n]*"'
)
ACCESS_MARK = "[GIN] "
ACCESS_MARK_BYTES = ACCESS_MARK.encode()
# The same line cut at its four '|', as bytes: each column matches its part of GIN_RE.
_COL_STATUS = re.compile(rb" *([0-9]{3}) ")
_COL_IP = re.compile(rb" *([!-~]*) ")  # printable ASCII: within GIN_RE's \S
_COL_REQ = re.compile(rb' *([A-Z]+) +"([^"?\n]*)[^"\n]*"')
_STATUS_200 = b" 200 "  # gin's status column for the most common status
_TAIL28 = itemgetter(slice(-28, None))  # b"[GIN] 2025/02/20 - 16:34:14 ": prefixes before it vary
_TS_TAILS = re.compile(rb"(?:\[GIN\] [0-9]{4}/[0-9]{2}/[0-9]{2} - [0-9]{2}:[0-9]{2}:[0-9]{2} \n)*")
_DATE, _HOUR, _MINUTE, _SECOND = (itemgetter(slice(a, b)) for a, b in ((6, 16), (19, 21), (22, 24), (25, 27)))
_MICRO = ("µ".encode(), "μ".encode())  # U+00B5 (Go's) and U+03BC
# A latency column may only hold these bytes (no signs, exponents, "inf", other letters or
# whitespace, all of which float() would take); anything else goes the regex way.
_LAT_BYTES = b" 0123456789.\nnumsh" + b"".join(_MICRO)
# Single-unit durations become decimal exponents ("6.2826ms" -> "6.2826e-3"), so one float() per
# value reads them, the same float both ways.
_UNIT_EXP = {"ns": "e-9", "us": "e-6", "µs": "e-6", "μs": "e-6", "ms": "e-3", "s": ""}
# Every value ends in "s " (" |" became " \n" in the join). Each unit becomes a decimal exponent of
# the same length ("ms \n" -> "e-3\n", "s \n" -> "e0\n"), the cheap kind of replace; each unit is
# looked for first by a byte only it has (a fast single-byte scan). Longest units first.
_COL_UNITS = tuple(
    (u.encode()[-1:], (u + "s \n").encode(), (e + " " * (len(u.encode()) + 2 - len(e)) + "\n").encode())
    for u, e in (("µ", "e-6"), ("μ", "e-6"), ("n", "e-9"), ("u", "e-6"), ("m", "e-3"), ("", "e0"))
)
assert all(len(unit) == len(exp) for _, unit, exp in _COL_UNITS)
_COMPOUND_RE = re.compile(r"[0-9.]+[a-zµμ]+(?:[0-9.]+[a-zµμ]+)*")
_WHOLE_SECONDS = re.compile(rb" *(?:([0-9]+)h)?([0-9]+)m([0-9]+)e0")  # b"  1h24m39e0" (was "1h24m39s ")
_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_DUR_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_COMPOUND: dict[str, float] = {}  # "5m8s" -> seconds: long requests repeat few values
_COMPOUND_TOKENS: dict[bytes, bytes] = {}  # column way: b"  5m8" -> b"308.0", b"" if invalid
CACHE_MAX = 50_000  # distinct column values remembered between blocks


class Access(NamedTuple):
    """Access lines of one block: latencies in line order, and again by path (each path's values in
    one or more lists, the order within a path is of no consequence); their end seconds as runs of
    consecutive lines (``seconds[i]`` for the next ``run_lengths[i]`` lines; None when the timestamp
    is no calendar date); counts by (path, status, method) and by client."""

    count: int
    by_key: dict
    by_client: dict
    latencies: list
    by_path: dict
    seconds: list
    run_lengths: list


def _grouped(keys: list, values: list) -> dict:
    """key -> the values of its lines (first-seen order), with no Python-level loop per line."""
    groups: dict = {k: [] for k in dict.fromkeys(keys)}
    deque(map(list.append, map(groups.__getitem__, keys), values), maxlen=0)
    return groups


def parse_go_duration(text: str) -> Optional[float]:
    """Go ``time.Duration.String()`` -> seconds (``971.777µs``, ``32.7s``, ``5m8s``, ``1h24m39s``)."""
    s = text.strip()
    if not s:
        return None
    if s == "0s" or s == "0":
        return 0.0
    for unit in (s[-2:], s[-1:]):
        exp = _UNIT_EXP.get(unit)
        if exp is not None:
            try:
                return float(s[: -len(unit)] + exp)
            except ValueError:
                break
    total, pos = 0.0, 0
    for m in _DUR_PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DUR_UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos else None


def _compound(text: str) -> float:
    v = _COMPOUND.get(text)
    if v is None:
        v = parse_go_duration(text) or 0.0
        if len(_COMPOUND) < 100_000:
            _COMPOUND[text] = v
    return v


def _seconds(num: str, unit: str, rest: str) -> float:
    """Latency from GIN_RE's groups (number, first unit, rest of a compound)."""
    exp = _UNIT_EXP.get(unit)
    if exp is not None and not rest:
        try:
            return float(num + exp)
        except ValueError:
            pass
    return _compound(num + unit + rest)


def latency_column(col: list) -> Optional[list]:
    """Latency column (``b"  971.777µs "`` ...) -> seconds, or None if any value does not fit."""
    j = b"\n".join(col) + b"\n"
    if j.translate(None, _LAT_BYTES):
        return None
    for mark, unit, exp in _COL_UNITS:
        if mark in j:
            j = j.replace(unit, exp)
    if j.count(b"e") != len(col):  # every value got exactly one exponent: each ended in "s "
        return None
    if b"m" in j:
        j = _compounds(j)
        if j is None:
            return None
    toks = j.split(b"\n")
    toks.pop()
    try:
        return list(map(float, toks))
    except ValueError:
        return None


def _compounds(j: bytes) -> Optional[bytes]:
    """Each compound ("5m8s " became b"5m8e0") replaced by its value in seconds, read once per
    distinct padded token; None if an m or h is anything else (no Go output: the column way
    refuses it)."""
    cache = _COMPOUND_TOKENS
    if len(cache) > 100_000:
        cache.clear()
    find, rfind = j.find, j.rfind
    parts, done = [], 0
    pos = find(b"m")
    while pos >= 0:
        start, end = rfind(b"\n", 0, pos) + 1, find(b"\n", pos)
        tok = j[start:end]
        value = cache.get(tok)
        if value is None:
            whole = _WHOLE_SECONDS.fullmatch(tok)  # gin's own form above a minute
            if whole:
                h, m, sec = whole.groups()
                value = int(h or 0) * 3600 + int(m) * 60 + int(sec)
            elif tok.endswith(b"e0"):
                text = tok[:-2].decode("utf-8", "replace").lstrip(" ") + "s"
                value = _compound(text) if _COMPOUND_RE.fullmatch(text) else None
            cache[tok] = value = b"" if value is None else repr(float(value)).encode()
        if not value:
            return None
        parts += (j[done:start], value)
        done = end
        pos = find(b"m", end)
    parts.append(j[done:])
    return b"".join(parts)


_INDEXES = list(range(1 << 14))  # ready-made ints: indexing a block allocates none


def indexes(n: int):
    """0 .. n-1 as an iterable of existing int objects (for compress over a block's lines)."""
    return _INDEXES[:n] if n <= len(_INDEXES) else range(n)


def _runs(col) -> tuple[list, list]:
    """Runs of equal consecutive values: (first index of each run, run lengths)."""
    n = len(col)
    cuts = list(compress(indexes(n)[1:], map(ne, islice(col, 1, None), col)))
    starts = [0] + cuts
    cuts.append(n)
    return starts, list(map(sub, cuts, starts))


class GinParser:
    """Access lines -> ``Access`` batches, with the caches that make the column way cheap."""

    def __init__(self) -> None:
        self._days: dict = {}  # "2025/02/20" (text or bytes) -> day start
        self._ts: dict[bytes, int] = {}  # timestamp column tail -> end second
        self._req: dict[tuple, tuple] = {}  # (request, status) columns -> key
        self._path: dict[bytes, str] = {}  # request column -> path
        self._ip: dict[bytes, str] = {}  # client column -> address

    def seconds(self, ts: str) -> Optional[int]:
        """``2025/02/20 - 16:34:14`` -> seconds; server local time, treated as naive."""
        if len(ts) != 21 or ts[10:13] != " - ":
            return None
        day = self._days.get(ts[:10])
        if day is None:
            try:
                day = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), 0, 0, 0))
            except ValueError:
                return None
            self._days[ts[:10]] = day
        try:
            return day + int(ts[13:15]) * 3600 + int(ts[16:18]) * 60 + int(ts[19:21])
        except ValueError:
            return None

    def _new_timestamps(self, tails: set) -> bool:
        """Check and convert timestamp column tails not seen yet, all at once; False if any is no
        access-line timestamp or no calendar date."""
        tails = list(tails)
        if not _TS_TAILS.fullmatch(b"\n".join(tails) + b"\n"):
            return False
        days = self._days
        dates = list(map(_DATE, tails))
        for d in set(dates).difference(days):
            try:
                days[d] = calendar.timegm((int(d[0:4]), int(d[5:7]), int(d[8:10]), 0, 0, 0))
            except ValueError:
                return False
        hms = map(
            add,
            map(mul, map(int, map(_HOUR, tails)), repeat(3600)),
            map(add, map(mul, map(int, map(_MINUTE, tails)), repeat(60)), map(int, map(_SECOND, tails))),
        )
        self._ts.update(zip(tails, map(add, map(days.__getitem__, dates), hms)))
        return True

    def _request(self, r: bytes, st: bytes, esc: bool) -> Optional[tuple]:
        """(path, status, method) of a request and a status column, or None if either does not fit."""
        key = self._req.get((r, st))
        if key is None:
            clean_r, clean_st = (COLOURS_BYTES.sub(b"", r), COLOURS_BYTES.sub(b"", st)) if esc else (r, st)
            m, sm = _COL_REQ.match(clean_r), _COL_STATUS.fullmatch(clean_st)
            if not (m and sm):
                return None
            path = m.group(2).decode("utf-8", "replace")
            key = self._req[(r, st)] = (path, sm.group(1).decode(), m.group(1).decode())
            self._path[r] = path
        return key

    def columns(self, raw: bytes, n: int) -> Optional[Access]:
        """``n`` access lines (bytes joined by newlines), or None when any of them does not fit.

        Colours (gin's, around status and method) are removed per distinct column value; a colour
        anywhere else makes this return None (the caller removes them from the block and retries)."""
        f = raw.replace(b"\n", b"|").split(b"|")
        if len(f) != 5 * n:
            return None
        c0, c1, c2, c3, c4 = f[0::5], f[1::5], f[2::5], f[3::5], f[4::5]
        del f
        esc = b"\x1b" in raw
        if esc and b"\x1b" in b"".join(c0):
            return None
        ts_map, ip_map = self._ts, self._ip
        tails = list(map(_TAIL28, c0))
        starts, lengths = _runs(tails)
        run_tails = list(map(tails.__getitem__, starts))
        new = set(run_tails).difference(ts_map)
        if new and not self._new_timestamps(new):
            return None
        lats = latency_column(c2)
        if lats is None:
            return None
        # (request, status) counts: all requests (their latency groups), then those not "200" (few).
        by_request = _grouped(c4, lats)
        other = list(map(ne, c1, repeat(_STATUS_200)))
        pairs = Counter(zip(compress(c4, other), compress(c1, other))) if any(other) else Counter()
        left = {r: len(vals) for r, vals in by_request.items()}
        by_key: dict = {}
        req_get = self._req.get
        for (r, st), c in pairs.items():
            key = req_get((r, st)) or self._request(r, st, esc)
            if key is None:
                return None
            by_key[key] = by_key.get(key, 0) + c
            left[r] -= c
        for r, c in left.items():
            if c:
                key = req_get((r, _STATUS_200)) or self._request(r, _STATUS_200, esc)
                if key is None:
                    return None
                by_key[key] = by_key.get(key, 0) + c
        ips = Counter(c3)
        for ip in ips:
            if ip not in ip_map:
                m = _COL_IP.fullmatch(ip)
                if not m:
                    return None
                ip_map[ip] = m.group(1).decode()
        by_client: dict = {}
        for ip, c in ips.items():
            address = ip_map[ip]
            by_client[address] = by_client.get(address, 0) + c
        path_map = self._path
        by_path: dict = {}
        for r, vals in by_request.items():
            by_path.setdefault(path_map[r], []).append(vals)
        batch = Access(n, by_key, by_client, lats, by_path, list(map(ts_map.__getitem__, run_tails)), lengths)
        if len(ts_map) > 4096:  # timestamps move on: old seconds are not seen again
            ts_map.clear()
        if max(len(self._req), len(ip_map)) > CACHE_MAX:
            for c in (self._req, path_map, ip_map):
                c.clear()
        return batch

    def groups(self, found: list) -> Access:
        """Access lines as GIN_RE groups (time, status, number, unit, compound rest, ip, method, path)."""
        ts_col, st_col, num_col, unit_col, rest_col, ip_col, m_col, p_col = zip(*found)
        starts, lengths = _runs(ts_col)
        lats = list(map(_seconds, num_col, unit_col, rest_col))
        return Access(
            len(found),
            Counter(zip(p_col, st_col, m_col)),
            Counter(ip_col),
            lats,
            {p: [vals] for p, vals in _grouped(p_col, lats).items()},
            [self.seconds(ts_col[i]) for i in starts],
            lengths,
        )
