#!/usr/bin/env python3
"""Two pjsua2 accounts register with digest auth through the server and exchange one MESSAGE in
each direction. Exits 0 only when both registrations succeeded and each side received the other's
message with the exact body; 1 otherwise, 2 on a usage or library error. Bounded by --timeout.

Headless by design: null audio device, no worker threads (threadCnt=0, mainThreadOnly), the main
loop polls libHandleEvents. The server is the outbound proxy, so requests to sip:USER@localhost go to
it whatever "localhost" resolves to.
"""

import argparse
import sys
import time

import pjsua2 as pj


class TestAccount(pj.Account):
    def __init__(self, name):
        super().__init__()
        self.name = name
        self.reg_code = None
        self.received = []
        self.sent_status = []

    def onRegState(self, prm):
        self.reg_code = prm.code
        print(f"{self.name}: registration {prm.code} {prm.reason}", flush=True)

    def onInstantMessage(self, prm):
        self.received.append((prm.fromUri, prm.msgBody))
        print(f"{self.name}: received from {prm.fromUri}: {prm.msgBody!r}", flush=True)

    def onInstantMessageStatus(self, prm):
        self.sent_status.append(prm.code)
        print(f"{self.name}: message to {prm.toUri} answered {prm.code} {prm.reason}", flush=True)


def make_account(ep_proxy, user, password, transport):
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{user}@localhost"
    cfg.regConfig.registrarUri = "sip:localhost"
    cfg.regConfig.timeoutSec = 300
    cfg.sipConfig.proxies.append(ep_proxy)
    cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    cfg.sipConfig.transportId = transport
    # Plain RFC 3261 behaviour: no RFC 5626 outbound, no Contact/Via rewriting, no presence.
    cfg.natConfig.sipOutboundUse = 0
    cfg.natConfig.contactRewriteUse = 0
    cfg.natConfig.viaRewriteUse = 0
    cfg.presConfig.publishEnabled = False
    acc = TestAccount(user)
    acc.create(cfg)
    return acc


def send(acc, to_user, body):
    buddy_cfg = pj.BuddyConfig()
    buddy_cfg.uri = f"sip:{to_user}@localhost"
    buddy_cfg.subscribe = False
    buddy = pj.Buddy()
    buddy.create(acc, buddy_cfg)
    prm = pj.SendInstantMessageParam()
    prm.content = body
    prm.contentType = "text/plain"
    buddy.sendInstantMessage(prm)
    return buddy


def poll_until(ep, deadline, done):
    while time.monotonic() < deadline and not done():
        ep.libHandleEvents(20)
    return done()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="HOST:PORT of the server")
    parser.add_argument("--alice", default="alice:alice-pw", help="USER:PASSWORD of the first account")
    parser.add_argument("--bob", default="bob:bob-pw", help="USER:PASSWORD of the second account")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds for the whole exchange")
    parser.add_argument("--log-level", type=int, default=3)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    (alice_user, alice_pw), (bob_user, bob_pw) = (a.split(":", 1) for a in (args.alice, args.bob))

    ep = pj.Endpoint()
    ep.libCreate()
    ep_cfg = pj.EpConfig()
    ep_cfg.uaConfig.threadCnt = 0
    ep_cfg.uaConfig.mainThreadOnly = True
    ep_cfg.logConfig.level = args.log_level
    ep_cfg.logConfig.consoleLevel = args.log_level
    ep.libInit(ep_cfg)
    t_cfg = pj.TransportConfig()
    t_cfg.boundAddress = "127.0.0.1"
    t_cfg.publicAddress = "127.0.0.1"
    t_cfg.port = 0
    kind = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
    transport = ep.transportCreate(kind, t_cfg)
    ep.libStart()
    ep.audDevManager().setNullDev()

    # Over TCP the proxy URI must say so, or pjsua would still pick UDP for some requests.
    proxy = f"sip:{args.server};lr" + (";transport=tcp" if args.transport == "tcp" else "")
    alice = make_account(proxy, alice_user, alice_pw, transport)
    bob = make_account(proxy, bob_user, bob_pw, transport)
    registered = poll_until(ep, deadline, lambda: alice.reg_code is not None and bob.reg_code is not None)
    if not registered or alice.reg_code != 200 or bob.reg_code != 200:
        print(f"FAIL: registration alice={alice.reg_code} bob={bob.reg_code}", flush=True)
        return 1

    to_bob = f"hello {bob_user}, this is {alice_user} via pjsua2"
    to_alice = f"hello {alice_user}, {bob_user} answers via pjsua2"
    buddies = [send(alice, bob_user, to_bob), send(bob, alice_user, to_alice)]

    def both_received():
        return any(b == to_bob for _, b in bob.received) and any(b == to_alice for _, b in alice.received)

    ok = poll_until(ep, deadline, both_received)
    # Let the 200s to the MESSAGEs leave before tearing down.
    poll_until(ep, min(deadline, time.monotonic() + 0.5), lambda: False)
    if not ok:
        print(f"FAIL: {bob_user} got {bob.received}, {alice_user} got {alice.received}; "
              f"send status alice={alice.sent_status} bob={bob.sent_status}", flush=True)
        return 1
    print(f"OK: both messages delivered (send status alice={alice.sent_status} bob={bob.sent_status})", flush=True)
    del buddies
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except pj.Error as e:
        print(f"ERROR: pjsua2: {e.info()}", flush=True)
        code = 2
    sys.stdout.flush()
    # pjsua2's destructors can block on a half-torn-down endpoint; the verdict is already printed.
    import os
    os._exit(code)
