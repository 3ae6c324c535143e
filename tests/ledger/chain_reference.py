#!/usr/bin/env python3
"""Known answers for test_hash.c, computed independently with Python's hashlib:
h[i] = SHA-256(h[i-1] || index as 8 bytes big-endian || event bytes), h[0] = 32 zero bytes."""
import hashlib

prev = bytes(32)
for index, event in [(1, b"first"), (2, b""), (3, bytes(range(200)))]:
    prev = hashlib.sha256(prev + index.to_bytes(8, "big") + event).digest()
    print(index, prev.hex())
