#!/usr/bin/env node
// kinesalite_server.js PORT [DATA_DIR] — kinesalite bound to 127.0.0.1 only
// (its CLI listens on every interface), with every stream state change
// instant (create/delete/update 0 ms).  With DATA_DIR the store is LevelDB on
// disk, so a restart (tests/stack/svc) keeps the streams and records.
'use strict';
const path = require('path');
const root = path.join(__dirname, '..', '..', 'node_modules');
const kinesalite = require(path.join(root, 'kinesalite'));

const port = +process.argv[2];
const dir = process.argv[3];
const opts = { createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 };
if (dir) opts.path = dir;
const server = kinesalite(opts);
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  console.log(`kinesalite listening on ${a.address}:${a.port}${dir ? ' store ' + dir : ' (memory)'}`);
});
server.on('error', (e) => { console.error(e); process.exit(1); });
for (const s of ['SIGTERM', 'SIGINT']) {
  process.on(s, () => server.close(() => process.exit(0)) || setTimeout(() => process.exit(0), 2000).unref());
}
