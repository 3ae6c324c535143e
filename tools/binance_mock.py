#!/usr/bin/env python3
"""A mock of the Binance spot REST API v3, for troika's tests and demo.

It serves BTCUSDT market data from recorded Binance replies (../shared/data/rest)
and keeps an in-memory account, so that signed order requests are checked,
executed and answered the way Binance does it. Python 3 standard library only.

    python3 tools/binance_mock.py [--host 127.0.0.1] [--port 0] [--port-file F]
        [--data DIR] [--klines-csv FILE] [--api-key K] [--api-secret S]
        [--balances JSON] [--quiet]

After binding it writes the port to --port-file (atomically), prints
"binance_mock: listening on http://HOST:PORT" to stderr, and serves until
SIGTERM or SIGINT, then exits 0. A bad command line or data file exits 2.

Market data (no signature; only BTCUSDT is served):
    GET /api/v3/ping                   {}
    GET /api/v3/time                   {"serverTime": now}
    GET /api/v3/exchangeInfo           the recorded exchange information
    GET /api/v3/klines                 recorded candles, or those of --klines-csv
    GET /api/v3/ticker/bookTicker      recorded best bid/ask, or the /mock/mark

Signed (header X-MBX-APIKEY; HMAC-SHA256 signature over query string + body;
timestamp within recvWindow):
    POST   /api/v3/order               new MARKET or LIMIT order
    GET    /api/v3/order               query an order (orderId or origClientOrderId)
    DELETE /api/v3/order               cancel an open order
    GET    /api/v3/openOrders          open orders
    GET    /api/v3/myTrades            fills
    GET    /api/v3/account             balances

Test control (no signature; JSON bodies):
    POST /mock/fault     {"kind", "count", "path", "method", "retry_after", "hold_s"}
                         queues a fault for the next `count` matching API requests:
                         "5xx" HTTP 503 code -1001; "429" and "418" code -1003 with
                         Retry-After; "timeout" holds the request hold_s seconds, then
                         answers; "drop_after_accept" executes the request, then
                         closes the connection without a response byte.
    POST /mock/mark      {"symbol": "BTCUSDT", "price": "..."}: bid = price,
                         ask = price + 0.01, used by bookTicker and fills.
    POST /mock/klines    {"csv": "open_time_ms,open,high,low,close,volume\n...",
                         "append": false}: serve these candles instead (their
                         interval is inferred as for --klines-csv); with "append":
                         true, add them after the last one served, on its interval
                         and grid (a live venue's new bars). Answers {"ok", "rows"}.
    GET  /mock/orders    every order accepted, with its fills
    GET  /mock/requests  API request counts by "METHOD path"
    GET  /mock/log       the last 10,000 API requests in arrival order:
                         {"requests": [{"time_ms", "method", "path", "query",
                         "fault"}]}, time_ms the wall time of arrival (a float, ms
                         since the epoch), fault the kind it drew or null
    POST /mock/reset     forget orders, fills, faults, counts, the request log
                         and mark; restore the starting balances and candles

Execution model: MARKET orders fill at once, in one trade, at the ask (BUY) or
the bid (SELL); a LIMIT order that crosses the book fills the same way at its
limit price, an IOC/FOK one that does not expires, a GTC one rests (funds
locked) until cancelled. Every trade pays 0.1% of its quote amount in USDT.
A client order id is refused (-2010) while an order with it is open or filled.
Klines: interval must be the data's own (-1120 otherwise); without startTime
the most recent `limit` rows are returned, as Binance does.

Every API reply carries X-MBX-USED-WEIGHT-1M (the weight used in this minute of
wall time); order placements also carry X-MBX-ORDER-COUNT-10S and -1D.
Errors have Binance's shape: {"code": <int>, "msg": "<text>"}.
"""

import argparse
import collections
import csv
import dataclasses
import decimal
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socketserver
import string
import sys
import threading
import time
import traceback
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SYMBOL = "BTCUSDT"
BASE_ASSET = "BTC"
QUOTE_ASSET = "USDT"
COMMISSION_RATE = Decimal("0.001")
TICK = Decimal("0.01")
EIGHT = Decimal("0.00000001")
DEFAULT_API_KEY = "mock-api-key"
DEFAULT_API_SECRET = "mock-api-secret"
DEFAULT_BALANCES = {"BTC": "10", "USDT": "1000000"}
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
DEFAULT_KLINES_LIMIT = 500
MAX_KLINES_LIMIT = 1000

INTEGER_RE = re.compile(r"^[0-9]{1,20}$")
DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
CLIENT_ID_ALPHABET = string.ascii_letters + string.digits

KLINE_INTERVALS_MS = {
    "1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000,
}
CSV_COLUMNS = ["open_time_ms", "open", "high", "low", "close", "volume"]

RECORDED_FILES = {
    "klines": "binance_spot_real/http_spot_market_klines.json",
    "exchange_info": "binance_spot_real/http_spot_market_exchange_info.json",
    "book_ticker": "binance_spot_real/http_spot_market_book_ticker.json",
    "account": "binance_docs_examples/account_response.json",
}

# Faults answered without touching the request: kind -> (HTTP status, code, msg, Retry-After?).
FAULT_REPLIES = {
    "5xx": (503, -1001, "Internal error; unable to process your request. Please try again.", False),
    "429": (429, -1003, "Too many requests.", True),
    "418": (418, -1003, "Too many requests.", True),
}
FAULT_KINDS = set(FAULT_REPLIES) | {"timeout", "drop_after_accept"}
REQUEST_LOG_MAX = 10_000  # API requests /mock/log keeps


class SetupError(Exception):
    """A bad command line or data file: reported on stderr, exit status 2."""


class ApiError(Exception):
    """A request refused with Binance's error body {"code", "msg"}."""

    def __init__(self, code, msg, status=400):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def body(self):
        return {"code": self.code, "msg": self.msg}


def mandatory(name):
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                           "or malformed.")


def illegal(name, legal):
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; "
                           f"legal range is '{legal}'.")


def now_ms():
    return int(time.time() * 1000)


def fmt8(value):
    """Binance's wire form of an amount: fixed point with 8 decimals."""
    return f"{value.quantize(EIGHT):f}"


def sign(secret, total_params):
    """HMAC-SHA256 of the total parameter string (raw text as sent), lowercase hex."""
    mac = hmac.new(secret.encode("utf-8"), total_params.encode("latin-1"), hashlib.sha256)
    return mac.hexdigest()


def without_signature(params_text):
    """The raw parameter text with its signature=... component removed, otherwise unchanged."""
    return "&".join(p for p in params_text.split("&") if p.partition("=")[0] != "signature")


def parse_params(text):
    return dict(parse_qsl(text, keep_blank_values=True))


def required(params, name):
    value = params.get(name, "")
    if value == "":
        raise mandatory(name)
    return value


def int_param(params, name, default=None):
    text = params.get(name, "")
    if text == "":
        return default
    if not INTEGER_RE.match(text):
        raise illegal(name, INTEGER_RE.pattern)
    return int(text)


def amount_param(params, name):
    """A mandatory positive decimal of at most 8 decimals (quantity, price)."""
    text = required(params, name)
    if not DECIMAL_RE.match(text):
        raise illegal(name, DECIMAL_RE.pattern)
    value = Decimal(text)
    if value != value.quantize(EIGHT):
        raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
    if value <= 0:
        raise ApiError(-1013, f"Invalid {name}.")
    return value


def choice_param(params, name, choices, code, msg, default=None):
    value = params.get(name, "") or default
    if value is None:
        raise mandatory(name)
    if value not in choices:
        raise ApiError(code, msg)
    return value


def symbol_param(params, optional=False):
    """The symbol parameter, which must be the one symbol served (-1121 otherwise)."""
    symbol = params.get("symbol", "")
    if symbol == "" and optional:
        return None
    if required(params, "symbol") != SYMBOL:
        raise ApiError(-1121, "Invalid symbol.")
    return symbol


def client_id_param(params, name):
    """A client order id from params, or a new random one like Binance's."""
    value = params.get(name, "")
    if value == "":
        return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(22))
    if not CLIENT_ID_RE.match(value):
        raise illegal(name, CLIENT_ID_RE.pattern)
    return value


# --- data -------------------------------------------------------------------

@dataclasses.dataclass
class MarketData:
    """What the mock serves: kline rows and their interval, recorded JSON replies."""
    klines: list
    interval: str
    exchange_info: dict
    book_ticker: dict
    account_template: dict


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise SetupError(f"{path}: no such file") from None
    except OSError as err:
        raise SetupError(f"{path}: cannot read: {err.strerror}") from None
    except ValueError as err:
        raise SetupError(f"{path}: not valid JSON: {err}") from None


def interval_of(open_times, where):
    """The kline interval of ascending open times: their smallest spacing (1m for one row)."""
    if len(open_times) < 2:
        return "1m"
    step = min(b - a for a, b in zip(open_times, open_times[1:]))
    for name, ms in KLINE_INTERVALS_MS.items():
        if ms == step:
            return name
    raise SetupError(f"{where}: rows are {step} ms apart, which is not a Binance kline interval")


def parse_csv_candle(fields, where):
    """(open_time, open, high, low, close, volume) of a CSV row; SetupError naming WHERE if bad."""
    if len(fields) != len(CSV_COLUMNS):
        raise SetupError(f"{where}: expected {len(CSV_COLUMNS)} fields, found {len(fields)}")
    time_text = fields[0].strip()
    if not INTEGER_RE.match(time_text):
        raise SetupError(f"{where}: open_time_ms {time_text!r} is not a whole number of ms")
    values = []
    for name, text in zip(CSV_COLUMNS[1:], fields[1:]):
        text = text.strip()
        if not DECIMAL_RE.match(text):
            raise SetupError(f"{where}: {name} {text!r} is not a non-negative decimal")
        value = Decimal(text)
        if value != value.quantize(EIGHT):
            raise SetupError(f"{where}: {name} {text!r} has more than 8 decimals")
        values.append(value)
    open_, high, low, close, _ = values
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise SetupError(f"{where}: low and high do not bracket open and close")
    return (int(time_text), *values)


def klines_from_csv(lines, path, interval=None):
    """Kline rows and interval from CSV lines (open_time_ms,open,high,low,close,volume), named
    PATH in messages; the interval is inferred from the rows unless given."""
    candles = []
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != CSV_COLUMNS:
        raise SetupError(f"{path}:1: expected the header {','.join(CSV_COLUMNS)}")
    for fields in reader:
        if fields:
            line = reader.line_num
            candles.append((line, parse_csv_candle(fields, f"{path}:{line}")))
    if not candles:
        raise SetupError(f"{path}: no candles after the header")
    for (_, prev), (line, cur) in zip(candles, candles[1:]):
        if cur[0] <= prev[0]:
            raise SetupError(f"{path}:{line}: open_time_ms {cur[0]} is not after the previous "
                             f"row's {prev[0]}")
    if interval is None:
        interval = interval_of([c[0] for _, c in candles], path)
    step = KLINE_INTERVALS_MS[interval]
    for (_, prev), (line, cur) in zip(candles, candles[1:]):
        if (cur[0] - prev[0]) % step:
            raise SetupError(f"{path}:{line}: open_time_ms {cur[0]} is off the {interval} grid "
                             "of the rows")
    rows = [[t, fmt8(o), fmt8(h), fmt8(lo), fmt8(c), fmt8(v), t + step - 1, fmt8(v * c),
             0, "0", "0", "0"] for _, (t, o, h, lo, c, v) in candles]
    return rows, interval


def load_klines_csv(path):
    """Kline rows and interval from a CSV file of open_time_ms,open,high,low,close,volume."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return klines_from_csv(f, path)
    except OSError as err:
        raise SetupError(f"{path}: cannot read: {err.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise SetupError(f"{path}: not a readable CSV file: {err}") from None


def load_recorded_klines(path):
    rows = load_json(path)
    if not (isinstance(rows, list) and rows
            and all(isinstance(r, list) and len(r) == 12 for r in rows)):
        raise SetupError(f"{path}: expected a non-empty array of 12-item kline rows")
    return rows, interval_of([r[0] for r in rows], path)


def load_market_data(data_dir, klines_csv):
    if not os.path.isdir(data_dir):
        raise SetupError(f"{data_dir}: data directory not found")
    paths = {name: os.path.join(data_dir, rel) for name, rel in RECORDED_FILES.items()}
    if klines_csv:
        klines, interval = load_klines_csv(klines_csv)
    else:
        klines, interval = load_recorded_klines(paths["klines"])
    book_ticker = load_json(paths["book_ticker"])
    if not isinstance(book_ticker, dict) or book_ticker.get("symbol") != SYMBOL:
        raise SetupError(f"{paths['book_ticker']}: expected the {SYMBOL} book ticker")
    return MarketData(klines, interval, load_json(paths["exchange_info"]), book_ticker,
                      load_json(paths["account"]))


def parse_balances(text):
    """Starting balances from a JSON object {"ASSET": "decimal", ...}."""
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise SetupError(f"--balances: not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise SetupError("--balances: expected a JSON object of asset to amount")
    balances = {}
    for asset, amount in raw.items():
        text_amount = str(amount)
        if not DECIMAL_RE.match(text_amount):
            raise SetupError(f"--balances: {asset}: {text_amount!r} is not a non-negative decimal")
        balances[asset] = Decimal(text_amount).quantize(EIGHT)
    return balances


# --- the venue --------------------------------------------------------------

@dataclasses.dataclass
class Fill:
    trade_id: int
    price: Decimal
    qty: Decimal
    quote: Decimal
    commission: Decimal
    time_ms: int


@dataclasses.dataclass
class Order:
    order_id: int
    client_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    qty: Decimal
    status: str
    time_ms: int
    update_ms: int
    fills: list = dataclasses.field(default_factory=list)
    locked: tuple = None  # (asset, amount) held while the order rests

    def _head(self):
        return {"symbol": SYMBOL, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_id}

    def _amounts(self):
        return {
            "price": fmt8(self.price),
            "origQty": fmt8(self.qty),
            "executedQty": fmt8(sum((f.qty for f in self.fills), Decimal(0))),
            "origQuoteOrderQty": fmt8(Decimal(0)),
            "cummulativeQuoteQty": fmt8(sum((f.quote for f in self.fills), Decimal(0))),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def placement_view(self, resp_type):
        """The reply to POST /api/v3/order for newOrderRespType ACK, RESULT or FULL."""
        view = {**self._head(), "transactTime": self.time_ms}
        if resp_type == "ACK":
            return view
        view.update(self._amounts(), workingTime=self.time_ms, selfTradePreventionMode="NONE")
        if resp_type == "FULL":
            view["fills"] = [{"price": fmt8(f.price), "qty": fmt8(f.qty),
                              "commission": fmt8(f.commission), "commissionAsset": QUOTE_ASSET,
                              "tradeId": f.trade_id} for f in self.fills]
        return view

    def query_view(self):
        """The order as GET /api/v3/order and openOrders show it."""
        return {**self._head(), **self._amounts(),
                "stopPrice": fmt8(Decimal(0)), "icebergQty": fmt8(Decimal(0)),
                "time": self.time_ms, "updateTime": self.update_ms, "isWorking": True,
                "workingTime": self.time_ms, "selfTradePreventionMode": "NONE"}

    def cancel_view(self, cancel_client_id):
        """The reply to DELETE /api/v3/order."""
        return {"symbol": SYMBOL, "origClientOrderId": self.client_id, "orderId": self.order_id,
                "orderListId": -1, "clientOrderId": cancel_client_id,
                "transactTime": self.update_ms,
                **self._amounts(), "selfTradePreventionMode": "NONE"}

    def trade_views(self):
        """The order's fills as GET /api/v3/myTrades shows them."""
        return [{"symbol": SYMBOL, "id": f.trade_id, "orderId": self.order_id, "orderListId": -1,
                 "price": fmt8(f.price), "qty": fmt8(f.qty), "quoteQty": fmt8(f.quote),
                 "commission": fmt8(f.commission), "commissionAsset": QUOTE_ASSET,
                 "time": f.time_ms, "isBuyer": self.side == "BUY", "isMaker": False,
                 "isBestMatch": True} for f in self.fills]


@dataclasses.dataclass
class Balance:
    free: Decimal
    locked: Decimal = Decimal(0)


@dataclasses.dataclass
class Fault:
    kind: str
    count: int
    path: str     # None: any path
    method: str   # None: any method
    retry_after: int
    hold_s: float

    def matches(self, method, path):
        return self.path in (None, path) and self.method in (None, method)


class WindowCounter:
    """A count over fixed windows of wall time (a minute, 10 s, a day), reset as one ends."""

    def __init__(self, span_s):
        self.span_s = span_s
        self.window = None
        self.count = 0

    def add(self, n):
        window = int(time.time() // self.span_s)
        if window != self.window:
            self.window, self.count = window, 0
        self.count += n
        return self.count


def control_field(spec, name, kinds, default, check, what):
    """A field of a /mock JSON body: DEFAULT when absent or null, else checked to be WHAT."""
    value = spec.get(name)
    if value is None:
        return default
    if not isinstance(value, kinds) or isinstance(value, bool) or not check(value):
        raise ApiError(-1100, f"mock: '{name}' must be {what}")
    return value


class Exchange:
    """The mock venue: market data plus an in-memory account, orders and faults, one lock."""

    def __init__(self, market, balances):
        self.market = market
        self.start_balances = balances
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forget orders, fills, faults, request counts, the request log and the mark; restore
        the balances and the candles."""
        with self.lock:
            self.balances = {asset: Balance(free) for asset, free in self.start_balances.items()}
            self.balances_updated_ms = now_ms()
            self.orders = {}            # orderId -> Order
            self.by_client_id = {}      # clientOrderId -> the latest Order with it
            self.next_order_id = 1
            self.next_trade_id = 1
            self.mark = None
            self.faults = []
            self.request_counts = collections.Counter()
            self.request_log = collections.deque(maxlen=REQUEST_LOG_MAX)
            self.kline_rows = list(self.market.klines)
            self.kline_interval = self.market.interval
            self.weight = WindowCounter(60)
            self.orders_10s = WindowCounter(10)
            self.orders_1d = WindowCounter(86400)
        return {"ok": True}

    # request accounting and faults

    def note_request(self, method, path, weight, query=""):
        """Count and log an API request; (the weight used this minute, the fault it draws or
        None)."""
        with self.lock:
            self.request_counts[f"{method} {path}"] += 1
            used = self.weight.add(weight)
            drawn = None
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    drawn = fault
                    break
            self.request_log.append({"time_ms": time.time() * 1000, "method": method,
                                     "path": path, "query": query,
                                     "fault": drawn.kind if drawn else None})
            return used, drawn

    def order_counts(self):
        """(orders placed in this 10 s window, in this UTC day)."""
        with self.lock:
            return self.orders_10s.add(0), self.orders_1d.add(0)

    def add_fault(self, spec):
        """POST /mock/fault: queue a fault for the next matching API requests."""
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ApiError(-1100, f"mock: 'kind' must be one of {', '.join(sorted(FAULT_KINDS))}")
        fault = Fault(
            kind=kind,
            count=control_field(spec, "count", int, 1, lambda v: v >= 1, "an integer >= 1"),
            path=control_field(spec, "path", str, None, lambda v: v.startswith("/"),
                               "a path like /api/v3/order"),
            method=control_field(spec, "method", str, None, str.isupper, "GET, POST or DELETE"),
            retry_after=control_field(spec, "retry_after", int, 1, lambda v: v >= 0,
                                      "an integer >= 0"),
            hold_s=control_field(spec, "hold_s", (int, float), 10, lambda v: v >= 0,
                                 "a number >= 0"),
        )
        with self.lock:
            self.faults.append(fault)
        return {"ok": True}

    def set_mark(self, spec):
        """POST /mock/mark: the price that bookTicker and fills use from now on."""
        if spec.get("symbol") != SYMBOL:
            raise ApiError(-1121, "Invalid symbol.")
        price = amount_param({"price": str(spec.get("price", ""))}, "price")
        with self.lock:
            self.mark = price
        return {"ok": True}

    def all_orders(self):
        """GET /mock/orders: every order accepted, with its fills."""
        with self.lock:
            return [{**o.query_view(), "fills": o.trade_views()} for o in self.orders.values()]

    def requests(self):
        """GET /mock/requests: API request counts by "METHOD path"."""
        with self.lock:
            return dict(self.request_counts)

    def log(self):
        """GET /mock/log: the last REQUEST_LOG_MAX API requests, oldest first."""
        with self.lock:
            return {"requests": list(self.request_log)}

    def set_klines(self, spec):
        """POST /mock/klines: serve the candles of spec["csv"], or append them (spec["append"])
        after the last one served, on its interval and grid."""
        text = spec.get("csv")
        if not isinstance(text, str):
            raise ApiError(-1100, "mock: 'csv' must be the text of a candle CSV")
        append = spec.get("append", False)
        if not isinstance(append, bool):
            raise ApiError(-1100, "mock: 'append' must be true or false")
        with self.lock:
            interval = self.kline_interval if append else None
            try:
                rows, interval = klines_from_csv(text.splitlines(), "/mock/klines", interval)
            except (SetupError, csv.Error) as err:
                raise ApiError(-1100, f"mock: {err}") from None
            if append and self.kline_rows:
                last = self.kline_rows[-1][0]
                step = KLINE_INTERVALS_MS[interval]
                if rows[0][0] <= last or (rows[0][0] - last) % step:
                    raise ApiError(-1100, f"mock: open_time_ms {rows[0][0]} is not after the "
                                          f"last candle's {last} on its {interval} grid")
                rows = self.kline_rows + rows
            self.kline_rows, self.kline_interval = rows, interval
            return {"ok": True, "rows": len(rows)}

    # market data

    def klines(self, params):
        """GET /api/v3/klines."""
        symbol_param(params)
        interval = required(params, "interval")
        with self.lock:
            served, served_interval = self.kline_rows, self.kline_interval
        if interval != served_interval:
            raise ApiError(-1120, "Invalid interval.")
        start = int_param(params, "startTime")
        end = int_param(params, "endTime")
        limit = int_param(params, "limit", DEFAULT_KLINES_LIMIT)
        if not 1 <= limit <= MAX_KLINES_LIMIT:
            raise ApiError(-1130, "Data sent for paramter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        rows = [r for r in served
                if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        return rows[:limit] if start is not None else rows[-limit:]

    def _top_of_book(self):
        ticker = self.market.book_ticker
        if self.mark is None:
            return Decimal(ticker["bidPrice"]), Decimal(ticker["askPrice"])
        return self.mark, self.mark + TICK

    def book_ticker(self, params):
        """GET /api/v3/ticker/bookTicker: one ticker for symbol=BTCUSDT, a list without symbol."""
        symbol = symbol_param(params, optional=True)
        ticker = dict(self.market.book_ticker)
        with self.lock:
            if self.mark is not None:
                bid, ask = self._top_of_book()
                ticker.update(bidPrice=fmt8(bid), askPrice=fmt8(ask))
        return ticker if symbol else [ticker]

    # account and orders

    def _reserve(self, asset, amount):
        """Check that AMOUNT of ASSET is free; -2010 otherwise."""
        balance = self.balances.get(asset)
        if balance is None or balance.free < amount:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        return balance

    def _credit(self, asset, amount):
        self.balances.setdefault(asset, Balance(Decimal(0))).free += amount

    def _execute(self, order, price, now):
        """Fill ORDER completely at PRICE in one taker trade and move the balances."""
        quote = (order.qty * price).quantize(EIGHT)
        commission = (quote * COMMISSION_RATE).quantize(EIGHT)
        if order.side == "BUY":
            self._reserve(QUOTE_ASSET, quote + commission).free -= quote + commission
            self._credit(BASE_ASSET, order.qty)
        else:
            self._reserve(BASE_ASSET, order.qty).free -= order.qty
            self._credit(QUOTE_ASSET, quote - commission)
        order.fills.append(Fill(self.next_trade_id, price, order.qty, quote, commission, now))
        self.next_trade_id += 1
        order.status = "FILLED"
        self.balances_updated_ms = now

    def _rest(self, order):
        """Put a GTC LIMIT order on the book, locking what it could spend."""
        if order.side == "BUY":
            asset, amount = QUOTE_ASSET, (order.qty * order.price).quantize(EIGHT)
        else:
            asset, amount = BASE_ASSET, order.qty
        balance = self._reserve(asset, amount)
        balance.free -= amount
        balance.locked += amount
        order.locked = (asset, amount)
        self.balances_updated_ms = order.time_ms

    def place_order(self, params):
        """POST /api/v3/order: a MARKET or LIMIT order, executed against the book ticker."""
        symbol_param(params)
        side = choice_param(params, "side", ("BUY", "SELL"), -1117, "Invalid side.")
        order_type = choice_param(params, "type", ("MARKET", "LIMIT"), -1116, "Invalid orderType.")
        qty = amount_param(params, "quantity")
        if order_type == "LIMIT":
            price = amount_param(params, "price")
            tif = choice_param(params, "timeInForce", ("GTC", "IOC", "FOK"), -1115,
                               "Invalid timeInForce.")
        else:
            for name in ("price", "timeInForce"):
                if params.get(name):
                    raise ApiError(-1106, f"Parameter '{name}' sent when not required.")
            price, tif = Decimal(0), "GTC"
        resp_type = choice_param(params, "newOrderRespType", ("ACK", "RESULT", "FULL"), -1100,
                                 "Illegal characters found in parameter 'newOrderRespType'; "
                                 "legal range is 'ACK, RESULT, FULL'.", default="FULL")
        client_id = client_id_param(params, "newClientOrderId")
        with self.lock:
            self.orders_10s.add(1)
            self.orders_1d.add(1)
            previous = self.by_client_id.get(client_id)
            if previous is not None and previous.status in ("NEW", "FILLED"):
                raise ApiError(-2010, "Duplicate order sent.")
            now = now_ms()
            order = Order(self.next_order_id, client_id, side, order_type, tif, price, qty,
                          "NEW", now, now)
            bid, ask = self._top_of_book()
            if order_type == "MARKET":
                self._execute(order, ask if side == "BUY" else bid, now)
            elif (price >= ask) if side == "BUY" else (price <= bid):
                self._execute(order, price, now)
            elif tif == "GTC":
                self._rest(order)
            else:
                order.status = "EXPIRED"
            self.orders[order.order_id] = order
            self.by_client_id[client_id] = order
            self.next_order_id += 1
            return order.placement_view(resp_type)

    def _find(self, params):
        """The order named by orderId or origClientOrderId (both must agree), or None."""
        order_id = int_param(params, "orderId")
        client_id = params.get("origClientOrderId", "")
        if order_id is None and client_id == "":
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                  "but both were empty/null!")
        if order_id is not None:
            order = self.orders.get(order_id)
        else:
            order = self.by_client_id.get(client_id)
        if order is not None and client_id not in ("", order.client_id):
            return None
        return order

    def get_order(self, params):
        """GET /api/v3/order."""
        symbol_param(params)
        with self.lock:
            order = self._find(params)
            if order is None:
                raise ApiError(-2013, "Order does not exist.")
            return order.query_view()

    def cancel_order(self, params):
        """DELETE /api/v3/order: cancel an open order and release what it locked."""
        symbol_param(params)
        cancel_client_id = client_id_param(params, "newClientOrderId")
        with self.lock:
            order = self._find(params)
            if order is None or order.status != "NEW":
                raise ApiError(-2011, "Unknown order sent.")
            asset, amount = order.locked
            balance = self.balances[asset]
            balance.locked -= amount
            balance.free += amount
            order.locked = None
            order.status = "CANCELED"
            order.update_ms = self.balances_updated_ms = now_ms()
            return order.cancel_view(cancel_client_id)

    def open_orders(self, params):
        """GET /api/v3/openOrders (the one symbol, given or not)."""
        symbol_param(params, optional=True)
        with self.lock:
            return [o.query_view() for o in self.orders.values() if o.status == "NEW"]

    def my_trades(self, params):
        """GET /api/v3/myTrades: the fills of orderId, or of every order."""
        symbol_param(params)
        order_id = int_param(params, "orderId")
        with self.lock:
            return [trade for o in self.orders.values() if order_id in (None, o.order_id)
                    for trade in o.trade_views()]

    def account(self):
        """GET /api/v3/account: the recorded account reply with this account's balances and fees."""
        bps = int(COMMISSION_RATE * 10000)
        rate = fmt8(COMMISSION_RATE)
        with self.lock:
            balances = [{"asset": asset, "free": fmt8(b.free), "locked": fmt8(b.locked)}
                        for asset, b in self.balances.items()]
            updated = self.balances_updated_ms
        return {**self.market.account_template, "makerCommission": bps, "takerCommission": bps,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt8(Decimal(0)),
                                    "seller": fmt8(Decimal(0))},
                "updateTime": updated, "balances": balances}


# --- HTTP -------------------------------------------------------------------

Route = collections.namedtuple("Route", "action weight signed")

API_ROUTES = {
    ("GET", "/api/v3/ping"): Route(lambda ex, p: {}, 1, False),
    ("GET", "/api/v3/time"): Route(lambda ex, p: {"serverTime": now_ms()}, 1, False),
    ("GET", "/api/v3/exchangeInfo"): Route(lambda ex, p: ex.market.exchange_info, 20, False),
    ("GET", "/api/v3/klines"): Route(Exchange.klines, 2, False),
    ("GET", "/api/v3/ticker/bookTicker"): Route(Exchange.book_ticker, 1, False),
    ("POST", "/api/v3/order"): Route(Exchange.place_order, 1, True),
    ("GET", "/api/v3/order"): Route(Exchange.get_order, 1, True),
    ("DELETE", "/api/v3/order"): Route(Exchange.cancel_order, 1, True),
    ("GET", "/api/v3/openOrders"): Route(Exchange.open_orders, 6, True),
    ("GET", "/api/v3/myTrades"): Route(Exchange.my_trades, 1, True),
    ("GET", "/api/v3/account"): Route(lambda ex, p: ex.account(), 20, True),
}

CONTROL_ROUTES = {
    ("POST", "/mock/fault"): Exchange.add_fault,
    ("POST", "/mock/mark"): Exchange.set_mark,
    ("POST", "/mock/klines"): Exchange.set_klines,
    ("GET", "/mock/log"): lambda ex, spec: ex.log(),
    ("GET", "/mock/orders"): lambda ex, spec: ex.all_orders(),
    ("GET", "/mock/requests"): lambda ex, spec: ex.requests(),
    ("POST", "/mock/reset"): lambda ex, spec: ex.reset(),
}


class Handler(BaseHTTPRequestHandler):
    """One connection: API requests (with accounting and faults) and /mock control requests."""

    protocol_version = "HTTP/1.1"
    server_version = "binance_mock/1"

    def do_GET(self):
        """Every method is dispatched on (method, path); unknown pairs get 404."""
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            return
        if path.startswith("/mock/"):
            self._control(path, body)
        else:
            self._api(path, query, body)

    do_POST = do_GET
    do_DELETE = do_GET

    def _read_body(self):
        length = self.headers.get("Content-Length", "0")
        if not INTEGER_RE.match(length):
            self.send_error(400, "Bad Content-Length")
            return None
        return self.rfile.read(int(length))

    def _form(self, body):
        """The parameter text of a POST/DELETE body sent as application/x-www-form-urlencoded."""
        content_type = self.headers.get("Content-Type", "application/x-www-form-urlencoded")
        form = content_type.startswith("application/x-www-form-urlencoded")
        if self.command in ("POST", "DELETE") and form:
            return body.decode("latin-1")
        return ""

    def _api(self, path, query, body):
        """An API request: count it, apply a queued fault, run it, answer (or drop) the reply."""
        exchange = self.server.exchange
        route = API_ROUTES.get((self.command, path))
        used, fault = exchange.note_request(self.command, path, route.weight if route else 1,
                                            query)
        headers = [("X-MBX-USED-WEIGHT-1M", str(used))]
        if fault is not None and fault.kind in FAULT_REPLIES:
            status, code, msg, retry = FAULT_REPLIES[fault.kind]
            if retry:
                headers.append(("Retry-After", str(fault.retry_after)))
            self._send_json(status, {"code": code, "msg": msg}, headers)
            return
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.hold_s)
        status, payload = self._run(route, path, query, self._form(body))
        if (self.command, path) == ("POST", "/api/v3/order"):
            count_10s, count_1d = exchange.order_counts()
            headers += [("X-MBX-ORDER-COUNT-10S", str(count_10s)),
                        ("X-MBX-ORDER-COUNT-1D", str(count_1d))]
        if fault is not None and fault.kind == "drop_after_accept":
            self.close_connection = True
            self.log_message('"%s" %d dropped without a reply (fault drop_after_accept)',
                             self.requestline, status)
            return
        self._send_json(status, payload, headers)

    def _run(self, route, path, query, form):
        """(status, JSON payload) of an API request."""
        try:
            if route is None:
                raise ApiError(-1000, f"Unknown endpoint {self.command} {path}.", status=404)
            if route.signed:
                params = self._signed_params(query, form)
            else:
                params = {**parse_params(form), **parse_params(query)}
            return 200, route.action(self.server.exchange, params)
        except ApiError as err:
            return err.status, err.body()
        except Exception:  # a bug in the mock: answer, and show it even when --quiet
            traceback.print_exc()
            return 500, {"code": -1000,
                         "msg": "An unknown error occurred while processing the request."}

    def _signed_params(self, query, form):
        """Check API key, timestamp, recvWindow and signature as Binance does; the parameters."""
        if self.headers.get("X-MBX-APIKEY") != self.server.api_key:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        # A parameter in both places is taken from the query string, as on Binance.
        params = {**parse_params(form), **parse_params(query)}
        given = params.pop("signature", "")
        timestamp = int_param(params, "timestamp")
        if timestamp is None:
            raise mandatory("timestamp")
        recv_window = int_param(params, "recvWindow", DEFAULT_RECV_WINDOW)
        if recv_window > MAX_RECV_WINDOW:
            raise ApiError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW}.")
        expected = sign(self.server.api_secret, without_signature(query) + without_signature(form))
        if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise ApiError(-1022, "Signature for this request is not valid.")
        if abs(timestamp - now_ms()) > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _control(self, path, body):
        """A /mock request: JSON body in, JSON out."""
        action = CONTROL_ROUTES.get((self.command, path))
        try:
            if action is None:
                raise ApiError(-1000, f"Unknown endpoint {self.command} {path}.", status=404)
            try:
                spec = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(-1100, "mock: the body is not valid JSON") from None
            if not isinstance(spec, dict):
                raise ApiError(-1100, "mock: the body must be a JSON object")
            status, payload = 200, action(self.server.exchange, spec)
        except ApiError as err:
            status, payload = err.status, err.body()
        self._send_json(status, payload)

    def _send_json(self, status, payload, headers=()):
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a "timeout" fault)
            self.close_connection = True

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, unsupported method) as JSON too."""
        self.close_connection = True
        text = message or self.responses.get(code, ("Error",))[0]
        self._send_json(code, {"code": -1000, "msg": text})

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write("binance_mock: %s %s\n" % (self.address_string(), format % args))


class MockServer(ThreadingHTTPServer):
    """A thread per connection; carries the exchange and the credentials."""

    def __init__(self, address, exchange, api_key, api_secret, quiet):
        self.exchange = exchange
        self.api_key = api_key
        self.api_secret = api_secret
        self.quiet = quiet
        super().__init__(address, Handler)

    def server_bind(self):
        """Bind without HTTPServer's reverse DNS lookup of the host."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        """A client that hangs up is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def default_data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "shared", "data", "rest"))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Mock of the Binance spot REST API v3 (see the module docstring).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here (atomically)")
    parser.add_argument("--data", default=default_data_dir(), help="the shared/data/rest directory")
    parser.add_argument("--klines-csv",
                        help="candles to serve: open_time_ms,open,high,low,close,volume")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument("--balances", default=json.dumps(DEFAULT_BALANCES),
                        help='starting balances, JSON, e.g. {"BTC": "10"}')
    parser.add_argument("--quiet", action="store_true", help="no log line per request")
    return parser.parse_args(argv)


def write_port_file(path, port):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    # Products of 20-digit amounts need more than the default 28 digits; new threads copy this.
    decimal.DefaultContext.prec = 60
    decimal.DefaultContext.rounding = decimal.ROUND_HALF_UP
    decimal.setcontext(decimal.Context())
    try:
        market = load_market_data(args.data, args.klines_csv)
        exchange = Exchange(market, parse_balances(args.balances))
    except SetupError as err:
        print(f"binance_mock: {err}", file=sys.stderr)
        return 2
    try:
        server = MockServer((args.host, args.port), exchange, args.api_key, args.api_secret,
                            args.quiet)
    except OSError as err:
        print(f"binance_mock: cannot listen on {args.host}:{args.port}: {err.strerror}",
              file=sys.stderr)
        return 2

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    if args.port_file:
        try:
            write_port_file(args.port_file, port)
        except OSError as err:
            print(f"binance_mock: {args.port_file}: cannot write the port file: {err.strerror}",
                  file=sys.stderr)
            return 2
    print(f"binance_mock: listening on http://{args.host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
