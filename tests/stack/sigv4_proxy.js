#!/usr/bin/env node
// sigv4_proxy.js — a reverse proxy that VERIFIES AWS Signature Version 4 and
// forwards good requests to a stand-in that does not (s3rver, kinesalite).
// No npm dependencies.  See docs/stack.md.
//
//   node sigv4_proxy.js --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT \
//        --service s3|kinesis [--region us-east-1] [--key AKID] [--secret SECRET]
//   (key/secret default to $SIGV4_KEY/$SIGV4_SECRET, then S3RVER/S3RVER)
//
// Canonical request per the AWS spec: S3 paths are decoded and URI-encoded
// once, other services' paths encoded twice; query params decoded,
// RFC 3986-encoded and sorted; signed headers trimmed with runs of spaces
// collapsed; payload hash = x-amz-content-sha256 for S3 (checked against the
// streamed body unless UNSIGNED-PAYLOAD), sha256(body) otherwise.  An S3
// body's x-amz-checksum-crc32, when sent, is checked as S3 does (BadDigest).  The scope
// date must match X-Amz-Date, the clock within 15 min, the region and the
// service the configured ones.  Rejections carry the CanonicalRequest and
// StringToSign computed here, and are logged on stderr.
'use strict';
const http = require('http');
const crypto = require('crypto');

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf('--' + name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}
const [lhost, lport] = opt('listen', '127.0.0.1:0').split(':');
const [uhost, uport] = opt('upstream', '').split(':');
const SERVICE = opt('service', 's3');
const REGION = opt('region', 'us-east-1');
const KEY = opt('key', process.env.SIGV4_KEY || 'S3RVER');
const SECRET = opt('secret', process.env.SIGV4_SECRET || 'S3RVER');
const IS_S3 = SERVICE === 's3';
const SKEW_MS = 15 * 60 * 1000;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
  'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'expect']);

// CRC-32 (gzip's polynomial), as S3 checks x-amz-checksum-crc32: Node's
// own (zlib.crc32, Node >= 20.15) or a table.
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();
const crc32 = require('zlib').crc32 || ((buf, crc = 0) => {
  let c = ~crc;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
});
const crc32b64 = (crc) => { const b = Buffer.alloc(4); b.writeUInt32BE(crc >>> 0); return b.toString('base64'); };

const sha256 = (d) => crypto.createHash('sha256').update(d).digest('hex');
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d).digest();
const xmlEsc = (s) => String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

// RFC 3986 encoding; '/' kept only when asked (S3 object paths).
function uriEncode(s, keepSlash) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
function decode(s) {
  try { return decodeURIComponent(s); } catch (e) { return s; }
}

function canonicalUri(rawPath) {
  if (IS_S3) return uriEncode(decode(rawPath), true) || '/';
  // other services: each segment of the path as sent is encoded again
  return rawPath.split('/').map((seg) => uriEncode(seg, false)).join('/') || '/';
}

function canonicalQuery(rawQuery, dropSignature) {
  if (!rawQuery) return '';
  const pairs = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decode(part.slice(eq + 1));
    if (dropSignature && k === 'X-Amz-Signature') continue;
    pairs.push([uriEncode(k, false), uriEncode(v, false)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

// header name (lowercase) -> list of raw values, in arrival order
function headerMap(raw) {
  const m = new Map();
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(raw[i + 1]);
  }
  return m;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  return m ? Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

class AuthError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    Object.assign(this, { status, code, extra: extra || {} });
  }
}

// Returns {payloadHash, unsigned}; throws AuthError.
function verify(req, url) {
  const hdr = headerMap(req.rawHeaders);
  const auth = (hdr.get('authorization') || [])[0];
  const q = new URLSearchParams(url.search);
  let cred, signedHeaders, signature, amzDate, presigned = false;
  if (auth) {
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)\s*$/.exec(auth);
    if (!m) {
      throw IS_S3
        ? new AuthError(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed: ' + auth)
        : new AuthError(400, 'IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature: ' + auth);
    }
    [, cred, signedHeaders, signature] = m;
    amzDate = (hdr.get('x-amz-date') || [])[0];
    if (!amzDate) throw new AuthError(IS_S3 ? 403 : 400, IS_S3 ? 'AccessDenied' : 'IncompleteSignatureException', 'X-Amz-Date header is required');
  } else if (q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256') {
    presigned = true;
    cred = q.get('X-Amz-Credential') || '';
    signedHeaders = q.get('X-Amz-SignedHeaders') || '';
    signature = q.get('X-Amz-Signature') || '';
    amzDate = q.get('X-Amz-Date');
  } else {
    throw IS_S3
      ? new AuthError(403, 'AccessDenied', 'Access Denied (no Authorization header: anonymous requests are refused)')
      : new AuthError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const parts = cred.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') {
    throw new AuthError(IS_S3 ? 400 : 400, IS_S3 ? 'AuthorizationHeaderMalformed' : 'IncompleteSignatureException', 'Credential must be AKID/date/region/service/aws4_request, got ' + cred);
  }
  const [akid, date, region, service] = parts;
  if (akid !== KEY) {
    throw IS_S3
      ? new AuthError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
      : new AuthError(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const t = parseAmzDate(amzDate);
  if (Number.isNaN(t)) throw new AuthError(IS_S3 ? 403 : 400, IS_S3 ? 'AccessDenied' : 'IncompleteSignatureException', 'X-Amz-Date must be YYYYMMDDTHHMMSSZ, got ' + amzDate);
  if (date !== amzDate.slice(0, 8)) {
    throw new AuthError(IS_S3 ? 400 : 400, IS_S3 ? 'AuthorizationHeaderMalformed' : 'InvalidSignatureException', `Credential date ${date} does not match X-Amz-Date ${amzDate}`);
  }
  if (region !== REGION) {
    throw new AuthError(400, IS_S3 ? 'AuthorizationHeaderMalformed' : 'InvalidSignatureException', `the region '${region}' is wrong; expecting '${REGION}'`);
  }
  if (service !== SERVICE) {
    throw new AuthError(400, IS_S3 ? 'AuthorizationHeaderMalformed' : 'InvalidSignatureException', `the service '${service}' is wrong; expecting '${SERVICE}'`);
  }
  const now = Date.now();
  if (presigned) {
    const exp = +q.get('X-Amz-Expires');
    if (!(exp > 0) || now > t + exp * 1000) throw new AuthError(403, 'AccessDenied', 'Request has expired');
    if (t - now > SKEW_MS) throw new AuthError(403, 'RequestTimeTooSkewed', 'X-Amz-Date is in the future');
  } else if (Math.abs(now - t) > SKEW_MS) {
    throw IS_S3
      ? new AuthError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: amzDate, ServerTime: new Date(now).toISOString() })
      : new AuthError(400, 'InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than 15 min from ${new Date(now).toISOString()}`);
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host')) throw new AuthError(IS_S3 ? 403 : 400, IS_S3 ? 'AccessDenied' : 'InvalidSignatureException', "'Host' must be a signed header");
  if (names.join(';') !== names.slice().sort().join(';')) {
    throw new AuthError(IS_S3 ? 403 : 400, IS_S3 ? 'SignatureDoesNotMatch' : 'InvalidSignatureException', 'SignedHeaders must be lowercase and sorted: ' + signedHeaders);
  }
  if (IS_S3) {
    for (const k of hdr.keys()) {
      if (k.startsWith('x-amz-') && !names.includes(k)) {
        throw new AuthError(403, 'AccessDenied', `There were headers present in the request which were not signed: ${k}`);
      }
    }
  }
  const lines = [];
  for (const n of names) {
    const vals = hdr.get(n);
    if (!vals) {
      throw new AuthError(IS_S3 ? 403 : 400, IS_S3 ? 'SignatureDoesNotMatch' : 'InvalidSignatureException', `Signed header '${n}' is not present in the request`);
    }
    lines.push(n + ':' + vals.map((v) => v.trim().replace(/\s+/g, ' ')).join(','));
  }
  let payloadHash, unsigned = false;
  if (presigned) {
    payloadHash = 'UNSIGNED-PAYLOAD';
    unsigned = true;
  } else if (IS_S3) {
    payloadHash = (hdr.get('x-amz-content-sha256') || [])[0];
    if (!payloadHash) throw new AuthError(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    if (payloadHash.startsWith('STREAMING-')) throw new AuthError(501, 'NotImplemented', 'aws-chunked payload signing is not supported by this stand-in: ' + payloadHash);
    if (payloadHash === 'UNSIGNED-PAYLOAD') unsigned = true;
    else if (!/^[0-9a-f]{64}$/.test(payloadHash)) throw new AuthError(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lowercase hex SHA-256');
  } else {
    payloadHash = req.bodySha;
  }
  const rawPath = url.pathname;
  const canonical = [req.method, canonicalUri(rawPath), canonicalQuery(url.search.slice(1), presigned),
    lines.join('\n') + '\n', signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let k = hmac('AWS4' + SECRET, date);
  k = hmac(k, region); k = hmac(k, service); k = hmac(k, 'aws4_request');
  const want = crypto.createHmac('sha256', k).update(sts).digest('hex');
  const ok = signature.length === want.length && crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(want));
  if (!ok) {
    if (IS_S3) {
      throw new AuthError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        { AWSAccessKeyId: akid, StringToSign: sts, SignatureProvided: signature, CanonicalRequest: canonical });
    }
    throw new AuthError(400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n\'' + canonical + '\'\n\nThe String-to-Sign should have been\n\'' + sts + '\'\n');
  }
  return { payloadHash, unsigned };
}

function sendError(req, res, status, code, message, extra) {
  const id = crypto.randomBytes(8).toString('hex').toUpperCase();
  let body, type;
  if (IS_S3) {
    type = 'application/xml';
    body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEsc(code)}</Code><Message>${xmlEsc(message)}</Message>` +
      Object.entries(extra || {}).map(([k, v]) => `<${k}>${xmlEsc(v)}</${k}>`).join('') +
      `<RequestId>${id}</RequestId></Error>`;
  } else {
    type = 'application/x-amz-json-1.1';
    body = JSON.stringify({ __type: code, message });
  }
  console.error(`${new Date().toISOString()} ${status} ${code} ${req.method} ${req.url}: ${message}` +
    (extra && extra.CanonicalRequest ? `\n--- canonical request ---\n${extra.CanonicalRequest}\n--- string to sign ---\n${extra.StringToSign}\n---` : ''));
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': id, 'x-amz-request-id': id });
  res.end(body);
  // a rejected request may still be sending its body: do not keep reading it
  req.resume();
}

// Sends the request upstream; `feed(up)` writes the body and ends `up`.
function forward(req, res, feed) {
  const headers = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i];
    if (HOP.has(k.toLowerCase())) continue;
    if (headers[k] !== undefined) headers[k] = [].concat(headers[k], req.rawHeaders[i + 1]);
    else headers[k] = req.rawHeaders[i + 1];
  }
  const up = http.request({ host: uhost, port: +uport, method: req.method, path: req.url, headers, agent });
  up.on('response', (ur) => {
    const out = [];
    for (let i = 0; i < ur.rawHeaders.length; i += 2) {
      if (!HOP.has(ur.rawHeaders[i].toLowerCase())) out.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
    }
    res.writeHead(ur.statusCode, ur.statusMessage, out);
    ur.pipe(res);
    ur.on('aborted', () => res.destroy());
    ur.on('error', () => res.destroy());
  });
  up.on('error', (e) => {
    if (up.abortedByProxy) return;
    // upstream down or gone mid-request: a retryable failure for the client
    if (res.headersSent) { res.destroy(); return; }
    sendError(req, res, 502, IS_S3 ? 'BadGateway' : 'InternalFailure', `upstream ${uhost}:${uport} unavailable: ${e.code || e.message}`);
  });
  res.on('close', () => { if (!res.writableFinished) { up.abortedByProxy = true; up.destroy(); } });
  feed(up);
}

function handle(req, res) {
  let url;
  try { url = new URL(req.url, 'http://x'); } catch (e) { sendError(req, res, 400, 'InvalidURI', 'bad request URI'); return; }
  // Raw pathname: URL() may normalise; take the path exactly as sent.
  const qi = req.url.indexOf('?');
  const rawPath = qi < 0 ? req.url : req.url.slice(0, qi);
  const u = { pathname: rawPath, search: qi < 0 ? '' : req.url.slice(qi) };
  if (!IS_S3) {
    // JSON protocols: the payload hash is sha256(body), so read it all first.
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      req.bodySha = sha256(body);
      try { verify(req, u); } catch (e) {
        if (e instanceof AuthError) { sendError(req, res, e.status, e.code, e.message, e.extra); return; }
        throw e;
      }
      forward(req, res, (up) => up.end(body));
    });
    return;
  }
  let v;
  try { v = verify(req, u); } catch (e) {
    if (e instanceof AuthError) { sendError(req, res, e.status, e.code, e.message, e.extra); return; }
    throw e;
  }
  conditional(req, res, rawPath, () => forwardS3(req, res, v));
}

// S3: stream the body, hashing as it goes, and hold the last chunk back
// until the hash is known: on a mismatch the upstream request is aborted
// one chunk short of its Content-Length, so nothing is stored.
function forwardS3(req, res, v) {
  forward(req, res, (up) => {
    const h = v.unsigned ? null : crypto.createHash('sha256');
    const wantCrc = req.headers['x-amz-checksum-crc32'];
    let crc = 0, held = null;
    req.on('data', (c) => {
      if (h) h.update(c);
      if (wantCrc !== undefined) crc = crc32(c, crc);
      if (held && !up.write(held)) { req.pause(); up.once('drain', () => req.resume()); }
      held = c;
    });
    req.on('end', () => {
      if (h) {
        const got = h.digest('hex');
        if (got !== v.payloadHash) {
          up.abortedByProxy = true;
          up.destroy();
          sendError(req, res, 400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.',
            { ClientComputedContentSHA256: v.payloadHash, S3ComputedContentSHA256: got });
          return;
        }
      }
      if (wantCrc !== undefined && wantCrc !== crc32b64(crc)) {
        up.abortedByProxy = true;
        up.destroy();
        sendError(req, res, 400, 'BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
        return;
      }
      if (held) up.end(held); else up.end();
    });
    req.on('aborted', () => { up.abortedByProxy = true; up.destroy(); });
  });
}

// s3rver ignores If-None-Match/If-Match on writes and If-Match on reads; S3
// honours them (conditional writes: reference/redshift-s3.md §4.2).  The
// proxy evaluates them against a HEAD of the key, and serialises conditional
// writes per key, so two racing `If-None-Match: *` PUTs through the proxy
// give one 200 and one 412.
const keyLocks = new Map(); // key -> queue of waiting callbacks
function withKeyLock(key, fn) {
  let done = false;
  const release = () => {
    if (done) return;
    done = true;
    const q = keyLocks.get(key);
    q.shift();
    if (q.length) q[0](); else keyLocks.delete(key);
  };
  const run = () => fn(release);
  if (keyLocks.has(key)) keyLocks.get(key).push(run);
  else { keyLocks.set(key, [run]); run(); }
}
const etagList = (h) => h.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/"/g, ''));

function conditional(req, res, rawPath, go) {
  const q = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
  const isWrite = (req.method === 'PUT' && !/(^|&)(partNumber|uploadId)=/.test(q)) ||
    (req.method === 'POST' && /(^|&)uploadId=/.test(q));
  const isRead = req.method === 'GET' || req.method === 'HEAD';
  const inm = isWrite ? req.headers['if-none-match'] : undefined;
  const im = isWrite || isRead ? req.headers['if-match'] : undefined;
  if (inm === undefined && im === undefined) { go(); return; }
  const key = decode(rawPath);
  const check = (release) => {
    const h = http.request({ host: uhost, port: +uport, method: 'HEAD', path: rawPath, agent });
    h.on('error', (e) => {
      sendError(req, res, 502, 'BadGateway', `upstream ${uhost}:${uport} unavailable: ${e.code || e.message}`);
      release();
    });
    h.on('response', (hr) => {
      hr.resume();
      const exists = hr.statusCode === 200;
      const etag = (hr.headers.etag || '').replace(/"/g, '');
      let fail = null;
      if (inm !== undefined && inm.trim() === '*' && exists) fail = 'If-None-Match';
      if (im !== undefined) {
        if (!exists) {
          sendError(req, res, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
          release();
          return;
        }
        const want = etagList(im);
        if (!want.includes('*') && !want.includes(etag)) fail = 'If-Match';
      }
      if (fail) {
        sendError(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: fail });
        release();
        return;
      }
      res.on('close', release);
      go();
    });
    h.end();
  };
  if (!isWrite) { check(() => {}); return; }
  // The key's lock must be released however the client goes away: while
  // the HEAD runs, while it waits in the key's queue, or during the write.
  let release = null, closed = false;
  res.on('close', () => { closed = true; if (release) release(); });
  withKeyLock(key, (rel) => {
    release = rel;
    if (closed) rel(); else check(rel);
  });
}

const server = http.createServer((req, res) => {
  try { handle(req, res); } catch (e) {
    console.error('internal error', e);
    if (!res.headersSent) { res.writeHead(500); res.end(); } else res.destroy();
  }
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.requestTimeout = 0;
server.on('clientError', (e, sock) => { if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); });
server.listen(+lport, lhost, () => {
  const a = server.address();
  console.log(`sigv4_proxy (${SERVICE}, region ${REGION}) listening on ${a.address}:${a.port} -> ${uhost}:${uport}`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
