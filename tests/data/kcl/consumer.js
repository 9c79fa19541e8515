// A KCL record processor on the real aws-kcl API (npm aws-kcl), unchanged
// from what runs under the Java MultiLangDaemon; logfleet's daemon tests
// run it under logfleetd.  Appends to the file named by $KCL_OUT:
//   R <shardId> <sequenceNumber> <subSequenceNumber> <data as text>   per record
//   C <shardId> <sequenceNumber> <ok|error>                          per checkpoint
//   E <event> <shardId> [<detail>]                                   per lifecycle call
// and checkpoints every batch at its last record, and at shardEnded and
// shutdownRequested.
'use strict';

const fs = require('fs');
const kcl = require('aws-kcl');

const out = process.env.KCL_OUT;
let shard = '-';

function note(text) {
  if (out) fs.appendFileSync(out, text);
}

const recordProcessor = {
  initialize: function (input, completeCallback) {
    shard = input.shardId;
    note('E initialize ' + shard + ' ' + input.sequenceNumber + '\n');
    completeCallback();
  },

  processRecords: function (input, completeCallback) {
    const records = input.records || [];
    if (records.length === 0) {
      completeCallback();
      return;
    }
    let text = '';
    for (const r of records) {
      const data = Buffer.from(r.data, 'base64').toString('utf8');
      text += 'R ' + shard + ' ' + r.sequenceNumber + ' ' + r.subSequenceNumber + ' ' + data + '\n';
    }
    note(text);
    const last = records[records.length - 1].sequenceNumber;
    input.checkpointer.checkpoint(last, function (err) {
      note('C ' + shard + ' ' + last + ' ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },

  leaseLost: function (input, completeCallback) {
    note('E leaseLost ' + shard + '\n');
    completeCallback();
  },

  shardEnded: function (input, completeCallback) {
    input.checkpointer.checkpoint(function (err) {
      note('E shardEnded ' + shard + ' ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },

  shutdownRequested: function (input, completeCallback) {
    input.checkpointer.checkpoint(function (err) {
      note('E shutdownRequested ' + shard + ' ' + (err || 'ok') + '\n');
      completeCallback();
    });
  },
};

kcl(recordProcessor).run();
