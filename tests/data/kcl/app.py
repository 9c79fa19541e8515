#!/usr/bin/env python3
"""A KCL MultiLangDaemon record processor written against the protocol alone
(reference/kcl.md §A: JSON lines on stdin/stdout, no KCL library), for
logfleet's daemon tests.  Appends to the file named by $KCL_OUT, one write
per event (O_APPEND, so several children may share the file):
  R <shardId> <sequenceNumber> <subSequenceNumber> <data as text>   per record
  C <shardId> <sequenceNumber> <subSequenceNumber> <ok|error>        per checkpoint
  E <event> <shardId> [<detail>]                                     per lifecycle call
It checkpoints every batch at its last record (unless KCL_BATCH_CHECKPOINT
is "0"), and at shardEnded and shutdownRequested (sequenceNumber null).

Misbehaviour, per shard, once (so that the restarted child does its job):
  KCL_BAD      "<shard>:<how>:<when>[,...]": how is "hang" (never answer) or
               "exit" (exit 3); when is N (the child's N-th non-empty
               processRecords, after writing its records and before
               checkpointing them) or "shutdown" (on shutdownRequested,
               before checkpointing).  "E hanging|exiting <shard> <pid>" is
               written first.
  KCL_BAD_DIR  where a marker file per shard records that it misbehaved
"""
import base64
import json
import os
import sys
import time

env = os.environ
out_fd = os.open(env["KCL_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def emit(text):
    os.write(out_fd, text.encode("utf-8"))


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    return json.loads(line) if line else None


def checkpoint(seq, sub):
    send({"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": sub})
    reply = receive()
    if reply is None or reply.get("action") != "checkpoint":
        sys.stderr.write("expected a checkpoint reply, got %r\n" % (reply,))
        sys.exit(5)
    return reply.get("error") or "ok"


def misbehave(shard, when):
    for spec in filter(None, env.get("KCL_BAD", "").split(",")):
        bad_shard, how, bad_when = spec.split(":")
        if bad_shard != shard or bad_when != when:
            continue
        mark = os.path.join(env["KCL_BAD_DIR"], "bad." + shard)
        if os.path.exists(mark):
            return
        open(mark, "w").close()
        emit("E %s %s %d\n" % ("hanging" if how == "hang" else "exiting", shard, os.getpid()))
        if how == "hang":
            while True:
                time.sleep(60)
        sys.exit(3)


def main():
    shard = "-"
    batches = 0
    while True:
        msg = receive()
        if msg is None:
            break
        action = msg["action"]
        if action == "initialize":
            shard = msg["shardId"]
            emit("E initialize %s %s %s\n" % (shard, msg["sequenceNumber"], msg["subSequenceNumber"]))
        elif action == "processRecords":
            records = msg["records"]
            if records:
                batches += 1
                emit("".join("R %s %s %d %s\n" % (shard, r["sequenceNumber"], r["subSequenceNumber"],
                                                 base64.b64decode(r["data"]).decode("utf-8"))
                             for r in records))
                misbehave(shard, str(batches))
                if env.get("KCL_BATCH_CHECKPOINT") != "0":
                    last = records[-1]
                    err = checkpoint(last["sequenceNumber"], last["subSequenceNumber"])
                    emit("C %s %s %d %s\n" % (shard, last["sequenceNumber"], last["subSequenceNumber"], err))
        elif action in ("shardEnded", "shutdownRequested"):
            if action == "shutdownRequested":
                misbehave(shard, "shutdown")
            emit("E %s %s %s\n" % (action, shard, checkpoint(None, None)))
        elif action == "leaseLost":
            emit("E leaseLost %s\n" % shard)
        send({"action": "status", "responseFor": action})


main()
