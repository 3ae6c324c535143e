#!/usr/bin/env python3
"""Print a base port P for a test's three-node cluster: P+1..P+3, P+101..P+103, P+201..P+203
and P+301..P+303 all free on loopback (the ports `troika cluster up --base-port P` gives the
nodes), below the kernel's ephemeral range (32768 and up) so that no outgoing connection takes
one of them later. Prints nothing when none is found in 200 tries."""
import random
import socket

for _ in range(200):
    base = random.randrange(20000, 32000, 10)
    socks = []
    try:
        for k in range(4):
            for n in range(1, 4):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + 100 * k + n))
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
