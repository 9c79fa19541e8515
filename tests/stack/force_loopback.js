// force_loopback.js — preload with `node -r` to make every TCP listen() in the
// process bind 127.0.0.1, whatever host (or none: "all interfaces") the
// program asked for.  kinesis-local (kinesis-mock in Scala.js) has no host
// option and binds *.  Unix-socket and handle listens are left alone.
'use strict';
const net = require('net');
const orig = net.Server.prototype.listen;
const LOOP = '127.0.0.1';
net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (a0 !== null && typeof a0 === 'object' && !Array.isArray(a0)) {
    if (a0.path === undefined && a0.handle === undefined && a0._handle === undefined && a0.fd === undefined) {
      args[0] = Object.assign({}, a0, { host: LOOP, ipv6Only: false });
    }
  } else if (typeof a0 === 'number' || (typeof a0 === 'string' && /^\d+$/.test(a0))) {
    // listen(port[, host][, backlog][, cb])
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      args.splice(1, args[1] === undefined && args.length < 2 ? 0 : 1, LOOP);
    } else {
      args.splice(1, 0, LOOP); // listen(port, backlog|cb, ...)
    }
  } else if (a0 === undefined || typeof a0 === 'function') {
    args.unshift(0, LOOP); // listen() / listen(cb): random port
    if (args[2] === undefined) args.splice(2, 1);
  }
  return orig.apply(this, args);
};
