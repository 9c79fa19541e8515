#!/usr/bin/env python3
"""A MultiLangDaemon child written against the protocol alone (kcl.md §A),
for logfleet's multilang tests.  No KCL library: plain JSON lines.

Environment (all optional):
  ML_OUT       append "<seq> <subseq> <hex of decoded data|null>" per record
  ML_ECHO      append every line read from stdin, verbatim
  ML_SCRIPT    JSON {action: [checkpoint request, ...]} sent during that
               action instead of the defaults; a request is an object merged
               into {"action":"checkpoint"}, or "last" (explicit last record)
               Defaults: processRecords -> "last", shardEnded and
               shutdownRequested -> {"sequenceNumber": null}
  ML_STATUS    JSON {action: responseFor} to answer with a wrong status
  ML_HANG_AT   hang (never answer) in the N-th processRecords (1-based)
  ML_EXIT_AT   exit(3) in the N-th processRecords, before answering
  ML_CLOSE_STDIN_AFTER_INIT  close stdin after initialize, stay alive
  ML_GARBAGE   print non-protocol lines on stdout before every status
  ML_EOL       line terminator for our messages (default "\n"; "\r", "\r\n")
  ML_STDERR_BYTES  write this many bytes to stderr in every processRecords
  ML_IGNORE_EOF    keep running after stdin EOF
  ML_IGNORE_TERM   ignore SIGTERM
  ML_GRANDCHILD    start "sleep 300" in our process group at initialize
  ML_PIDFILE   write the grandchild's pid here
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time

env = os.environ
SCRIPT = json.loads(env.get("ML_SCRIPT", "{}"))
STATUS = json.loads(env.get("ML_STATUS", "{}"))
stdin = sys.stdin.buffer
out = sys.stdout


def append(path, text):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def read_line():
    line = stdin.readline()
    if not line:
        return None
    append(env.get("ML_ECHO"), line.decode("utf-8"))
    return json.loads(line)


EOL = env.get("ML_EOL", "\n")


def send(msg):
    text = json.dumps(msg, separators=(",", ":"))
    out.write("\n" + text + "\n" if EOL == "\n" else text + EOL)
    out.flush()


def checkpoint(req, last):
    msg = {"action": "checkpoint"}
    if req == "last":
        msg.update({"sequenceNumber": last[0], "subSequenceNumber": last[1]})
    else:
        msg.update(req)
    send(msg)
    reply = read_line()
    if reply is None or reply.get("action") != "checkpoint":
        sys.stderr.write("expected a checkpoint reply, got %r\n" % (reply,))
        sys.exit(5)
    return reply.get("error")


def garbage():
    out.write("not json at all\n")
    out.write('{"action":"bogus"}\n')
    out.write("[1,2,3]\n")
    out.write('{"noaction":true}\r\n')
    out.write('{"action":"checkpoint","sequenceNumber":{"x":1}}\r')
    out.write('{"action":"leaseLost"}\r')
    out.write("   \n")
    out.write("x" * 300000 + "\n")
    out.flush()


def main():
    if env.get("ML_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    batches = 0
    last = (None, None)
    while True:
        msg = read_line()
        if msg is None:
            break
        action = msg["action"]
        if action == "initialize":
            assert set(msg) == {"action", "shardId", "sequenceNumber", "subSequenceNumber"}, msg
            if env.get("ML_GRANDCHILD"):
                p = subprocess.Popen(["sleep", "300"])
                append(env.get("ML_PIDFILE"), "%d\n" % p.pid)
        elif action == "processRecords":
            batches += 1
            assert set(msg) == {"action", "records", "millisBehindLatest"}, msg
            for r in msg["records"]:
                data = r["data"]
                hexdata = "null" if data is None else base64.b64decode(data, validate=True).hex()
                append(env.get("ML_OUT"), "%s %d %s\n" % (r["sequenceNumber"], r["subSequenceNumber"], hexdata))
                assert isinstance(r["approximateArrivalTimestamp"], int)
                assert r["action"] == "record"
                last = (r["sequenceNumber"], r["subSequenceNumber"])
            n = int(env.get("ML_STDERR_BYTES", "0"))
            if n:
                sys.stderr.write(("e" * 99 + "\n") * (n // 100))
                sys.stderr.flush()
            if str(batches) == env.get("ML_HANG_AT"):
                while True:
                    time.sleep(60)
            if str(batches) == env.get("ML_EXIT_AT"):
                sys.stderr.write("exiting mid-batch on purpose\n")
                sys.exit(3)
        else:
            assert set(msg) == {"action"}, msg
        defaults = {"processRecords": ["last"], "shardEnded": [{"sequenceNumber": None}],
                    "shutdownRequested": [{"sequenceNumber": None}]}
        for req in SCRIPT.get(action, defaults.get(action, [])):
            if req == "last" and not msg.get("records"):
                continue
            checkpoint(req, last)
        if env.get("ML_GARBAGE"):
            garbage()
        send({"action": "status", "responseFor": STATUS.get(action, action)})
        if action == "initialize" and env.get("ML_CLOSE_STDIN_AFTER_INIT"):
            os.close(0)
            while True:
                time.sleep(60)
    if env.get("ML_IGNORE_EOF"):
        while True:
            time.sleep(60)


main()
