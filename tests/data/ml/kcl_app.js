// A record processor on the real aws-kcl API (npm aws-kcl 2.3.2), for
// logfleet's multilang tests.  Appends "<seq> <subseq> <hex data>" per record
// to $ML_OUT, checkpoints each batch at its last record, and checkpoints
// (null: SHARD_END / largest) in shardEnded and shutdownRequested.
'use strict';

const fs = require('fs');
const kcl = require('aws-kcl');

const out = process.env.ML_OUT;

function note(text) {
  if (out) fs.appendFileSync(out, text);
}

const recordProcessor = {
  initialize: function (input, completeCallback) {
    note('initialize ' + input.shardId + ' ' + input.sequenceNumber + '\n');
    completeCallback();
  },

  processRecords: function (input, completeCallback) {
    const records = input.records || [];
    for (const r of records) {
      const data = r.data === null ? 'null' : Buffer.from(r.data, 'base64').toString('hex');
      note(r.sequenceNumber + ' ' + r.subSequenceNumber + ' ' + data + '\n');
    }
    if (records.length === 0) {
      completeCallback();
      return;
    }
    const last = records[records.length - 1].sequenceNumber;
    input.checkpointer.checkpoint(last, function (err, seq) {
      note('checkpoint ' + seq + ' ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },

  leaseLost: function (input, completeCallback) {
    note('leaseLost\n');
    completeCallback();
  },

  shardEnded: function (input, completeCallback) {
    input.checkpointer.checkpoint(function (err) {
      note('shardEnded checkpoint ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },

  shutdownRequested: function (input, completeCallback) {
    input.checkpointer.checkpoint(function (err) {
      note('shutdownRequested checkpoint ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },
};

kcl(recordProcessor).run();
