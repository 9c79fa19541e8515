#!/usr/bin/env node
// freeport.js N — prints N distinct TCP ports that are free on 127.0.0.1,
// drawn at random BELOW the kernel's ephemeral range, so that outgoing
// connections (which take ephemeral ports) cannot grab one between this
// probe and the server's own bind.
'use strict';
const net = require('net');
const fs = require('fs');
const n = +(process.argv[2] || 1);
let low = 32768;
try { low = +fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]; } catch (e) { /* default */ }
const hi = low - 1, lo = Math.max(1024, low - 12000);
const got = new Set();
let tries = 0;
function next() {
  if (got.size >= n) { console.log([...got].join(' ')); return; }
  if (++tries > 2000) { console.error('freeport: no free ports'); process.exit(1); }
  const p = lo + Math.floor(Math.random() * (hi - lo + 1));
  if (got.has(p)) { next(); return; }
  const s = net.createServer();
  s.once('error', next);
  s.listen({ port: p, host: '127.0.0.1', exclusive: true }, () => s.close(() => { got.add(p); next(); }));
}
next();
