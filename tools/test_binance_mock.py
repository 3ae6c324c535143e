#!/usr/bin/env python3
"""Tests of tools/binance_mock.py, which each talk HTTP to the mock running as a subprocess.

From the repository root:
    python3 -m unittest tools/test_binance_mock.py
    python3 tools/test_binance_mock.py
"""

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "binance_mock.py")
sys.path.insert(0, HERE)
import binance_mock  # noqa: E402  (after the path is set)

DATA = binance_mock.default_data_dir()
KEY = binance_mock.DEFAULT_API_KEY
SECRET = binance_mock.DEFAULT_API_SECRET
ASK = Decimal("60741.68")  # the recorded book ticker
BID = Decimal("60741.67")


def recorded(relative_path):
    with open(os.path.join(DATA, relative_path), encoding="utf-8") as f:
        return json.load(f)


def now_ms():
    return int(time.time() * 1000)


class MockProcess:
    """The mock run as a subprocess on port 0 with --quiet; its port comes from --port-file."""

    def __init__(self, *args):
        self.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.tmp.name, "port")
        self.stderr = open(os.path.join(self.tmp.name, "stderr"), "w+", encoding="utf-8")
        command = [sys.executable, MOCK, "--quiet", "--port-file", port_file, *args]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"the mock did not start: {log}")
            time.sleep(0.02)
        with open(port_file, encoding="ascii") as f:
            self.port = int(f.read())

    def log(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self):
        """Terminate the mock (kill it if it does not exit) and return its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        self.tmp.cleanup()
        return self.proc.returncode


def run_mock_expecting_failure(*args):
    """Run the mock with ARGS, which must make it fail at start-up; (exit status, stderr)."""
    result = subprocess.run([sys.executable, MOCK, "--quiet", *args], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=10)
    return result.returncode, result.stderr


class Client:
    """urllib requests to the mock: (status, headers, decoded JSON body)."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, query="", body=None, headers=None, timeout=5):
        url = f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")
        data = body.encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, reply.headers, json.load(reply)
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers, json.load(err)

    def get(self, path, **params):
        return self.call("GET", path, urlencode(params))

    def control(self, method, path, spec=None):
        body = json.dumps(spec) if spec is not None else None
        headers = {"Content-Type": "application/json"}
        status, _, payload = self.call(method, path, body=body, headers=headers)
        return status, payload

    @staticmethod
    def signed_query(params, secret=SECRET, body=""):
        """PARAMS url-encoded in order, then the signature over them plus BODY."""
        query = urlencode(params)
        signature = hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        return f"{query}&signature={signature}" if query else f"signature={signature}"

    def signed(self, method, path, params, body_params=None, key=KEY, secret=SECRET,
               timestamp=None):
        """A signed request; the timestamp goes last into the body if there is one, else the
        query string; the signature goes last into the query string."""
        stamp = [("timestamp", now_ms() if timestamp is None else timestamp)]
        body = urlencode(list(body_params.items()) + stamp) if body_params is not None else None
        query_params = list(params.items()) + (stamp if body is None else [])
        query = self.signed_query(query_params, secret, body or "")
        return self.call(method, path, query, body, {"X-MBX-APIKEY": key})


# Binance's documented HMAC examples (API docs, "SIGNED endpoint examples for POST /api/v3/order"):
# example 1 signs the whole query string, example 3 a query string and a body joined without "&".
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_SIGNATURE_ALL_IN_QUERY = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_SIGNATURE_MIXED = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


class SignatureTest(unittest.TestCase):
    def test_known_answers_of_binance_documentation(self):
        self.assertEqual(binance_mock.sign(DOC_SECRET, f"{DOC_QUERY}&{DOC_BODY}"),
                         DOC_SIGNATURE_ALL_IN_QUERY)
        self.assertEqual(binance_mock.sign(DOC_SECRET, DOC_QUERY + DOC_BODY), DOC_SIGNATURE_MIXED)

    def test_server_checks_the_documented_mixed_request(self):
        """The documented signature passes (then the 2017 timestamp fails); a changed one not."""
        mock = MockProcess("--api-key", DOC_KEY, "--api-secret", DOC_SECRET)
        self.addCleanup(mock.stop)
        client = Client(mock.port)
        headers = {"X-MBX-APIKEY": DOC_KEY}
        altered = DOC_SIGNATURE_MIXED[:-1] + "0"
        for signature, code in ((DOC_SIGNATURE_MIXED, -1021), (altered, -1022)):
            query = f"{DOC_QUERY}&signature={signature}"
            reply = client.call("POST", "/api/v3/order", query, DOC_BODY, headers)
            self.assertEqual((reply[0], reply[2]["code"]), (400, code))

    def test_signature_parameter_is_cut_out_of_the_raw_text(self):
        self.assertEqual(binance_mock.without_signature("a=1&signature=ff&b=%20x"), "a=1&b=%20x")
        self.assertEqual(binance_mock.without_signature(""), "")


class StartupTest(unittest.TestCase):
    def test_missing_data_dir_exits_2_naming_it(self):
        missing = os.path.join(tempfile.gettempdir(), "binance-mock-no-such-dir")
        status, err = run_mock_expecting_failure("--data", missing)
        self.assertEqual(status, 2)
        self.assertIn(missing, err)

    def test_malformed_csv_row_exits_2_naming_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.csv")
            with open(path, "w", encoding="utf-8") as f:
                f.write("open_time_ms,open,high,low,close,volume\n"
                        "1570752000000,1.0,2.0,0.5,1.5,10\n"
                        "1570752060000,1.0,abc,0.5,1.5,10\n")
            status, err = run_mock_expecting_failure("--klines-csv", path)
            self.assertEqual(status, 2)
            self.assertIn(f"{path}:3", err)
            with open(path, "w", encoding="utf-8") as f:
                f.write("start_unix_s,open,high,low,close,volume\n1570752000,1.0,2.0,0.5,1.5,10\n")
            status, err = run_mock_expecting_failure("--klines-csv", path)
            self.assertEqual(status, 2)
            self.assertIn(f"{path}:1", err)

    def test_sigterm_exits_0_after_announcing_the_port(self):
        mock = MockProcess()
        try:
            status, _, _ = Client(mock.port).get("/api/v3/ping")
            self.assertEqual(status, 200)
            self.assertIn(f"binance_mock: listening on http://127.0.0.1:{mock.port}", mock.log())
        finally:
            self.assertEqual(mock.stop(), 0)

    def test_klines_from_csv(self):
        t0 = 1570752000000
        five = 300_000
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "candles.csv")
            with open(path, "w", encoding="utf-8") as f:
                f.write("open_time_ms,open,high,low,close,volume\n")
                for i, t in enumerate((t0, t0 + five, t0 + 2 * five, t0 + 4 * five)):  # a gap at 3
                    f.write(f"{t},100.{i},101.5,99,100.5,2.25\n")
            mock = MockProcess("--klines-csv", path)
            self.addCleanup(mock.stop)
            client = Client(mock.port)
            status, _, rows = client.get("/api/v3/klines", symbol="BTCUSDT", interval="5m")
            self.assertEqual(status, 200)
            self.assertEqual([r[0] for r in rows], [t0, t0 + five, t0 + 2 * five, t0 + 4 * five])
            self.assertEqual(rows[1], [t0 + five, "100.10000000", "101.50000000", "99.00000000",
                                       "100.50000000", "2.25000000", t0 + 2 * five - 1,
                                       "226.12500000", 0, "0", "0", "0"])
            status, _, rows = client.get("/api/v3/klines", symbol="BTCUSDT", interval="5m",
                                         startTime=t0 + five, limit=2)
            self.assertEqual([r[0] for r in rows], [t0 + five, t0 + 2 * five])
            status, _, err = client.get("/api/v3/klines", symbol="BTCUSDT", interval="1m")
            self.assertEqual((status, err["code"]), (400, -1120))


class MockTest(unittest.TestCase):
    """Requests to one mock process, reset before each test."""

    @classmethod
    def setUpClass(cls):
        cls.mock = MockProcess()
        cls.addClassCleanup(cls.mock.stop)
        cls.client = Client(cls.mock.port)

    def setUp(self):
        self.assertEqual(self.client.control("POST", "/mock/reset"), (200, {"ok": True}))

    # helpers

    def get(self, path, **params):
        return self.client.get(path, **params)

    def api(self, method, path, **params):
        """A signed request with PARAMS in the query string."""
        return self.client.signed(method, path, params)

    def order(self, **params):
        return self.api("POST", "/api/v3/order", symbol="BTCUSDT", **params)

    def query_order(self, **params):
        return self.api("GET", "/api/v3/order", symbol="BTCUSDT", **params)

    def cancel_order(self, **params):
        return self.api("DELETE", "/api/v3/order", symbol="BTCUSDT", **params)

    def mark(self, price, symbol="BTCUSDT"):
        return self.client.control("POST", "/mock/mark", {"symbol": symbol, "price": price})

    def fault(self, **spec):
        self.assertEqual(self.client.control("POST", "/mock/fault", spec), (200, {"ok": True}))

    def mock_orders(self):
        return self.client.control("GET", "/mock/orders")[1]

    def balances(self):
        status, _, account = self.api("GET", "/api/v3/account")
        self.assertEqual(status, 200)
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}

    def assertError(self, reply, status, code):
        self.assertEqual((reply[0], reply[2]["code"]), (status, code), reply[2])

    # market data

    def test_ping_time_exchange_info(self):
        self.assertEqual(self.get("/api/v3/ping")[2], {})
        server_time = self.get("/api/v3/time")[2]["serverTime"]
        self.assertLess(abs(server_time - now_ms()), 5000)
        status, headers, info = self.get("/api/v3/exchangeInfo")
        self.assertEqual(info, recorded("binance_spot_real/http_spot_market_exchange_info.json"))
        self.assertEqual(headers["Content-Type"], "application/json;charset=UTF-8")

    def test_klines_from_the_recorded_file(self):
        rows = recorded("binance_spot_real/http_spot_market_klines.json")

        def klines(**params):
            return self.get("/api/v3/klines", **{"symbol": "BTCUSDT", "interval": "1m", **params})

        self.assertEqual(klines()[2], rows)
        self.assertEqual(klines(startTime=rows[2][0], endTime=rows[5][0])[2], rows[2:6])
        self.assertEqual(klines(startTime=rows[2][0] - 1, endTime=rows[5][0], limit=2)[2],
                         rows[2:4])
        self.assertEqual(klines(limit=3)[2], rows[-3:])  # no startTime: the most recent
        reply = klines(limit=1001)
        self.assertError(reply, 400, -1130)
        self.assertEqual(reply[2]["msg"], "Data sent for paramter 'limit' is not valid.")
        self.assertError(klines(symbol="ETHUSDT"), 400, -1121)
        reply = self.get("/api/v3/klines", symbol="BTCUSDT")
        self.assertError(reply, 400, -1102)
        self.assertIn("'interval'", reply[2]["msg"])
        self.assertError(self.get("/api/v3/klines", interval="1m"), 400, -1102)

    def test_klines_replaced_and_appended(self):
        t0 = 1570752000000
        minute = 60_000

        def candles(*times, header=True):
            lines = ["open_time_ms,open,high,low,close,volume"] if header else []
            lines += [f"{t},100,101,99,100.5,2" for t in times]
            return "\n".join(lines) + "\n"

        def klines(**params):
            return self.get("/api/v3/klines", **{"symbol": "BTCUSDT", "interval": "1m", **params})

        def load(text, append=False):
            return self.client.control("POST", "/mock/klines", {"csv": text, "append": append})

        self.assertEqual(load(candles(t0, t0 + minute, t0 + 3 * minute)),
                         (200, {"ok": True, "rows": 3}))
        rows = klines()[2]
        self.assertEqual([r[0] for r in rows], [t0, t0 + minute, t0 + 3 * minute])
        self.assertEqual(rows[0][6], t0 + minute - 1)
        # appended one at a time, as a live venue's bars close: the grid and order are kept
        self.assertEqual(load(candles(t0 + 4 * minute), append=True),
                         (200, {"ok": True, "rows": 4}))
        self.assertEqual(klines(startTime=t0 + 3 * minute)[2][1][0], t0 + 4 * minute)
        self.assertEqual(klines(startTime=t0 + 3 * minute)[2][1][6], t0 + 5 * minute - 1)
        for bad in (candles(t0 + 4 * minute), candles(t0 + 5 * minute + 1)):
            status, err = load(bad, append=True)
            self.assertEqual((status, err["code"]), (400, -1100), err)
            self.assertIn("is not after the last candle's", err["msg"])
        status, err = load(candles(t0, header=False))
        self.assertEqual((status, err["code"]), (400, -1100))
        self.assertIn("expected the header", err["msg"])
        self.assertEqual(self.client.control("POST", "/mock/klines", {"csv": 5})[0], 400)
        self.assertEqual(load(candles(t0), append="yes")[0], 400)
        self.assertEqual(len(klines()[2]), 4)  # a refused load changes nothing
        # 5-minute candles replace the 1-minute ones; reset restores the recorded ones
        self.assertEqual(load(candles(t0, t0 + 5 * minute))[0], 200)
        self.assertError(klines(), 400, -1120)
        self.assertEqual(self.get("/api/v3/klines", symbol="BTCUSDT", interval="5m")[0], 200)
        self.client.control("POST", "/mock/reset")
        self.assertEqual(klines()[2], recorded("binance_spot_real/http_spot_market_klines.json"))

    def test_request_log(self):
        before = now_ms()
        self.fault(kind="429", count=1, path="/api/v3/klines", retry_after=3)
        self.get("/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=2)
        self.get("/api/v3/ping")
        self.mock_orders()  # control requests are not logged
        log = self.client.control("GET", "/mock/log")[1]["requests"]
        self.assertEqual([(r["method"], r["path"], r["query"], r["fault"]) for r in log],
                         [("GET", "/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=2", "429"),
                          ("GET", "/api/v3/ping", "", None)])
        self.assertLessEqual(before, log[0]["time_ms"])
        self.assertLessEqual(log[0]["time_ms"], log[1]["time_ms"])
        self.assertLessEqual(log[1]["time_ms"], now_ms() + 1)
        self.client.control("POST", "/mock/reset")
        self.assertEqual(self.client.control("GET", "/mock/log"), (200, {"requests": []}))

    def test_book_ticker_follows_the_mark(self):
        ticker = recorded("binance_spot_real/http_spot_market_book_ticker.json")
        self.assertEqual(self.get("/api/v3/ticker/bookTicker", symbol="BTCUSDT")[2], ticker)
        self.assertEqual(self.mark("50000.5"), (200, {"ok": True}))
        ticker = self.get("/api/v3/ticker/bookTicker", symbol="BTCUSDT")[2]
        self.assertEqual((ticker["bidPrice"], ticker["askPrice"]),
                         ("50000.50000000", "50000.51000000"))
        self.assertEqual(self.mark("1", symbol="X")[0], 400)

    def test_weight_header_grows(self):
        if time.time() % 60 > 58:  # stay inside one minute window
            time.sleep(60 - time.time() % 60 + 0.05)
        replies = [self.get("/api/v3/ping"),
                   self.get("/api/v3/klines", symbol="BTCUSDT", interval="1m"),
                   self.get("/api/v3/exchangeInfo"),
                   self.api("GET", "/api/v3/account"),
                   self.api("GET", "/api/v3/openOrders")]
        self.assertEqual([int(r[1]["X-MBX-USED-WEIGHT-1M"]) for r in replies], [1, 3, 23, 43, 49])

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("GET", "/api/v3/ping")
        reply = conn.getresponse()
        self.assertEqual((reply.status, reply.read()), (200, b"{}"))
        self.assertEqual(reply.getheader("Content-Length"), "2")
        sock = conn.sock
        conn.request("GET", "/api/v3/time")
        reply = conn.getresponse()
        self.assertIn("serverTime", json.loads(reply.read()))
        self.assertIs(conn.sock, sock)

    def test_request_counts(self):
        self.get("/api/v3/ping")
        self.get("/api/v3/ping")
        self.order(side="BUY", type="MARKET", quantity="0.1")
        self.mock_orders()
        self.assertEqual(self.client.control("GET", "/mock/requests")[1],
                         {"GET /api/v3/ping": 2, "POST /api/v3/order": 1})

    # signed requests

    def test_signed_request_rejections(self):
        params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
        stamped = list(params.items()) + [("timestamp", now_ms())]
        key = {"X-MBX-APIKEY": KEY}
        post = self.client.signed
        self.assertError(post("POST", "/api/v3/order", params, key="wrong"), 401, -2015)
        self.assertError(self.client.call("POST", "/api/v3/order", Client.signed_query(stamped)),
                         401, -2015)
        self.assertError(post("POST", "/api/v3/order", params, secret="wrong"), 400, -1022)
        self.assertError(self.client.call("POST", "/api/v3/order", urlencode(stamped), headers=key),
                         400, -1022)
        reply = post("POST", "/api/v3/order", params, timestamp=now_ms() - 10_000)
        self.assertError(reply, 400, -1021)
        self.assertEqual(reply[2]["msg"],
                         "Timestamp for this request is outside of the recvWindow.")
        unstamped = Client.signed_query(params)
        self.assertError(self.client.call("POST", "/api/v3/order", unstamped, headers=key),
                         400, -1102)
        self.assertEqual(self.mock_orders(), [])
        wide = {**params, "recvWindow": "20000"}
        self.assertEqual(post("POST", "/api/v3/order", wide, timestamp=now_ms() - 10_000)[0], 200)

    def test_parameters_split_between_query_and_body(self):
        status, _, placed = self.client.signed(
            "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY"},
            body_params={"type": "MARKET", "quantity": "0.2"})
        self.assertEqual((status, placed["status"], placed["origQty"]),
                         (200, "FILLED", "0.20000000"))

    def test_market_buy_fills_at_the_ask_with_commission(self):
        status, headers, placed = self.order(side="BUY", type="MARKET", quantity="0.5",
                                             newClientOrderId="buy-1")
        self.assertEqual(status, 200, placed)
        self.assertEqual((headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]),
                         ("1", "1"))
        quote = ASK * Decimal("0.5")
        commission = quote / 1000
        self.assertEqual((placed["orderId"], placed["orderListId"], placed["clientOrderId"]),
                         (1, -1, "buy-1"))
        self.assertEqual((placed["status"], placed["executedQty"]), ("FILLED", "0.50000000"))
        self.assertEqual(Decimal(placed["cummulativeQuoteQty"]), quote)
        self.assertEqual(placed["fills"], [{"price": "60741.68000000", "qty": "0.50000000",
                                            "commission": "30.37084000", "commissionAsset": "USDT",
                                            "tradeId": 1}])
        self.assertEqual(self.balances(), {"BTC": (Decimal("10.5"), 0),
                                           "USDT": (Decimal(1_000_000) - quote - commission, 0)})
        headers = self.order(side="BUY", type="MARKET", quantity="0.1")[1]
        self.assertEqual(headers["X-MBX-ORDER-COUNT-1D"], "2")

    def test_market_sell_fills_at_the_marked_bid(self):
        self.mark("50000")
        placed = self.order(side="SELL", type="MARKET", quantity="2", newOrderRespType="RESULT")[2]
        self.assertEqual((placed["status"], placed["cummulativeQuoteQty"]),
                         ("FILLED", "100000.00000000"))
        self.assertNotIn("fills", placed)
        self.assertEqual(self.balances(), {"BTC": (Decimal(8), 0), "USDT": (Decimal(1_099_900), 0)})
        ack = self.order(side="SELL", type="MARKET", quantity="1", newOrderRespType="ACK")[2]
        self.assertEqual(set(ack),
                         {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"})
        self.assertEqual(len(ack["clientOrderId"]), 22)

    def test_insufficient_balance(self):
        reply = self.order(side="BUY", type="MARKET", quantity="100")
        self.assertError(reply, 400, -2010)
        self.assertEqual(reply[2]["msg"], "Account has insufficient balance for requested action.")
        limit = {"side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "11"}
        self.assertError(self.order(price="7e4", **limit), 400, -1100)  # not a plain decimal
        reply = self.order(price="70000", **limit)
        self.assertError(reply, 400, -2010)
        self.assertEqual(self.mock_orders(), [])

    def test_repeated_client_order_id_is_refused(self):
        market = {"side": "BUY", "type": "MARKET", "quantity": "0.1", "newClientOrderId": "dup-1"}
        self.assertEqual(self.order(**market)[0], 200)
        reply = self.order(**market)
        self.assertError(reply, 400, -2010)
        self.assertEqual(reply[2]["msg"], "Duplicate order sent.")
        self.assertEqual([o["clientOrderId"] for o in self.mock_orders()], ["dup-1"])
        resting = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
                   "price": "1000", "newClientOrderId": "dup-2"}
        self.assertEqual(self.order(**resting)[0], 200)
        self.assertError(self.order(**resting), 400, -2010)
        self.assertEqual(len(self.mock_orders()), 2)

    def test_query_order(self):
        placed = self.order(side="BUY", type="MARKET", quantity="0.1", newClientOrderId="q-1")[2]
        status, _, order = self.query_order(origClientOrderId="q-1")
        self.assertEqual(status, 200)
        self.assertEqual((order["orderId"], order["status"], order["executedQty"]),
                         (placed["orderId"], "FILLED", "0.10000000"))
        self.assertEqual(order["cummulativeQuoteQty"], placed["cummulativeQuoteQty"])
        for field in ("time", "updateTime", "isWorking", "origQuoteOrderQty", "workingTime"):
            self.assertIn(field, order)
        self.assertEqual(self.query_order(orderId=placed["orderId"])[2], order)
        self.assertError(self.query_order(origClientOrderId="x"), 400, -2013)
        self.assertError(self.query_order(orderId=99), 400, -2013)
        self.assertError(self.query_order(), 400, -1102)

    def test_resting_limit_order_open_orders_and_cancel(self):
        resting = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
                   "price": "50000", "newClientOrderId": "rest-1"}
        status, _, placed = self.order(**resting)
        self.assertEqual((status, placed["status"], placed["fills"]), (200, "NEW", []))
        self.assertEqual(self.balances()["USDT"], (Decimal(995_000), Decimal(5000)))
        for params in ({"symbol": "BTCUSDT"}, {}):
            open_orders = self.api("GET", "/api/v3/openOrders", **params)[2]
            self.assertEqual([(o["orderId"], o["status"]) for o in open_orders],
                             [(placed["orderId"], "NEW")])
        status, _, cancelled = self.cancel_order(origClientOrderId="rest-1")
        self.assertEqual(status, 200)
        self.assertEqual((cancelled["status"], cancelled["orderId"]),
                         ("CANCELED", placed["orderId"]))
        self.assertEqual(cancelled["origClientOrderId"], "rest-1")
        self.assertEqual(self.balances()["USDT"], (Decimal(1_000_000), 0))
        self.assertEqual(self.api("GET", "/api/v3/openOrders", symbol="BTCUSDT")[2], [])
        reply = self.cancel_order(orderId=placed["orderId"])
        self.assertError(reply, 400, -2011)
        self.assertEqual(reply[2]["msg"], "Unknown order sent.")
        self.assertEqual(self.order(**resting)[0], 200)  # a cancelled id may be used again

    def test_limit_orders_that_cross_or_expire(self):
        limit = {"type": "LIMIT", "quantity": "1"}
        crossing = self.order(side="SELL", timeInForce="GTC", price="60000", **limit)[2]
        self.assertEqual((crossing["status"], crossing["fills"][0]["price"]),
                         ("FILLED", "60000.00000000"))
        expired = self.order(side="BUY", timeInForce="IOC", price="100", **limit)[2]
        self.assertEqual(expired["status"], "EXPIRED")
        self.assertError(self.order(side="BUY", price="100", **limit), 400, -1102)

    def test_my_trades(self):
        first = self.order(side="BUY", type="MARKET", quantity="0.1")[2]
        self.order(side="SELL", type="MARKET", quantity="0.2")
        status, _, trades = self.api("GET", "/api/v3/myTrades", symbol="BTCUSDT",
                                     orderId=first["orderId"])
        self.assertEqual(status, 200)
        self.assertEqual(trades, [{
            "symbol": "BTCUSDT", "id": 1, "orderId": first["orderId"], "orderListId": -1,
            "price": "60741.68000000", "qty": "0.10000000", "quoteQty": "6074.16800000",
            "commission": "6.07416800", "commissionAsset": "USDT", "time": trades[0]["time"],
            "isBuyer": True, "isMaker": False, "isBestMatch": True}])
        trades = self.api("GET", "/api/v3/myTrades", symbol="BTCUSDT")[2]
        self.assertEqual([(t["id"], t["isBuyer"], t["price"]) for t in trades],
                         [(1, True, "60741.68000000"), (2, False, "60741.67000000")])

    # faults

    def test_fault_5xx_on_one_path_twice(self):
        self.fault(kind="5xx", count=2, path="/api/v3/time")
        reply = self.get("/api/v3/time")
        self.assertError(reply, 503, -1001)
        self.assertIn("X-MBX-USED-WEIGHT-1M", reply[1])
        self.assertEqual(self.get("/api/v3/ping")[0], 200)
        self.assertError(self.get("/api/v3/time"), 503, -1001)
        self.assertEqual(self.get("/api/v3/time")[0], 200)

    def test_fault_on_one_method_does_not_place_the_order(self):
        self.fault(kind="5xx", method="POST")
        self.assertEqual(self.get("/api/v3/ping")[0], 200)
        self.assertError(self.order(side="BUY", type="MARKET", quantity="0.1"), 503, -1001)
        self.assertEqual(self.mock_orders(), [])

    def test_fault_429_and_418_with_retry_after(self):
        self.fault(kind="429", retry_after=7)
        reply = self.get("/api/v3/ping")
        self.assertError(reply, 429, -1003)
        self.assertEqual(reply[1]["Retry-After"], "7")
        self.fault(kind="418")
        reply = self.get("/api/v3/ping")
        self.assertError(reply, 418, -1003)
        self.assertEqual(reply[1]["Retry-After"], "1")
        self.assertEqual(self.get("/api/v3/ping")[0], 200)
        self.assertEqual(self.client.control("POST", "/mock/fault", {"kind": "nope"})[0], 400)

    def test_fault_timeout(self):
        self.fault(kind="timeout", hold_s=1, path="/api/v3/time")
        started = time.monotonic()
        with self.assertRaises((TimeoutError, urllib.error.URLError)) as caught:
            self.client.call("GET", "/api/v3/time", timeout=0.3)
        if isinstance(caught.exception, urllib.error.URLError):
            self.assertIsInstance(caught.exception.reason, TimeoutError)
        self.assertLess(time.monotonic() - started, 0.9)
        self.assertEqual(self.get("/api/v3/time")[0], 200)
        self.fault(kind="timeout", hold_s=0.4)
        started = time.monotonic()
        self.assertEqual(self.client.call("GET", "/api/v3/ping", timeout=5)[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)

    def test_fault_drop_after_accept(self):
        self.fault(kind="drop_after_accept", path="/api/v3/order")
        params = {"side": "BUY", "type": "MARKET", "quantity": "0.3",
                  "newClientOrderId": "lost-reply-1"}
        query = Client.signed_query([("symbol", "BTCUSDT"), *params.items(),
                                     ("timestamp", now_ms())])
        conn = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("POST", f"/api/v3/order?{query}", headers={"X-MBX-APIKEY": KEY})
        with self.assertRaises(http.client.RemoteDisconnected):
            conn.getresponse()
        orders = self.mock_orders()
        self.assertEqual([(o["clientOrderId"], o["status"], o["executedQty"]) for o in orders],
                         [("lost-reply-1", "FILLED", "0.30000000")])
        self.assertEqual(len(orders[0]["fills"]), 1)
        self.assertError(self.order(**params), 400, -2010)  # the resend
        self.assertEqual(len(self.mock_orders()), 1)

    def test_reset(self):
        self.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="1000")
        self.mark("1")
        self.fault(kind="5xx", count=5)
        self.assertEqual(self.client.control("POST", "/mock/reset"), (200, {"ok": True}))
        self.assertEqual(self.mock_orders(), [])
        self.assertEqual(self.client.control("GET", "/mock/requests"), (200, {}))
        ticker = self.get("/api/v3/ticker/bookTicker", symbol="BTCUSDT")[2]
        self.assertEqual(ticker["bidPrice"], "60741.67000000")
        self.assertEqual(self.balances(),
                         {"BTC": (Decimal(10), 0), "USDT": (Decimal(1_000_000), 0)})
        self.assertEqual(self.order(side="BUY", type="MARKET", quantity="0.1")[2]["orderId"], 1)


if __name__ == "__main__":
    unittest.main()
