// Runs the auth flows of the OFFICIAL CloudBase JS SDK (@cloudbase/js-sdk, unmodified, from npm) against a
// cloudbase-emulator binary started by this script.
//
//   node compat/js-sdk/run.mjs [path/to/cloudbase-emulator]     (or EMULATOR_BIN=...; default target/debug/...)
//
// How the SDK is pointed at the emulator: the SDK's own public API `app.registerHost("127.0.0.1:PORT", "http")`
// (js-sdk 3.7). Nothing in the SDK is patched and no request is rewritten. The only thing wrapped is the
// global `fetch` (and http/https.request), as a GUARD: any request to a host other than 127.0.0.1/localhost is
// refused before a connection or DNS lookup is made, and recorded. (The SDK's Node adapter probes
// http://metadata.tencentyun.com before each request to tag its `X-TCB-Source` header; that probe is refused.)
//
// Output: one PASS/FAIL line per flow, then a last line exactly `N passed, M failed`. Exit 0 only if all pass.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ENV_ID = 'emulator-env'
const OVERALL_TIMEOUT_MS = 60_000
const FLOW_TIMEOUT_MS = 15_000
const START_TIMEOUT_MS = 15_000
const POLL_TIMEOUT_MS = 5_000
const VERBOSE = !!process.env.VERBOSE
const HARNESS_HEADER = 'x-compat-harness' // marks the harness's own direct /auth/v1 calls (not the SDK's)

// ---------------------------------------------------------------------------------------------------------
// Output. The SDK logs a lot (hints, warnings); its console output is captured and shown only for a failing
// flow (or always with VERBOSE=1). Our own lines go straight to stdout.
const out = (line) => process.stdout.write(`${line}\n`)
let sdkLog = []
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const orig = console[level].bind(console)
  console[level] = (...args) => {
    const text = args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ')
    sdkLog.push(`[sdk console.${level}] ${text}`)
    if (VERBOSE) orig(`[sdk console.${level}]`, ...args)
  }
}
function safeJson(v) {
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Environment: the SDK's Node adapter reads Tencent credentials/runtime markers from process.env (they would
// switch it to signed server-side requests or other hosts). Remove them from this process before loading it.
for (const key of Object.keys(process.env)) {
  if (/^(TENCENTCLOUD|TCB_|SCF_|CLOUDBASE_|CBR_|SUMERU_|WX_)/.test(key)) delete process.env[key]
}

// ---------------------------------------------------------------------------------------------------------
// Network guard (not a rewriter): loopback only.
const realFetch = globalThis.fetch.bind(globalThis)
const blocked = [] // [{via, url}]
const sdkRequests = [] // [{method, url}] loopback requests made by the SDK
const isLoopback = (u) => {
  try {
    const { hostname } = new URL(u)
    return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]'
  } catch {
    return false
  }
}
globalThis.fetch = async function guardedFetch(input, init) {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input?.url
  if (!isLoopback(url)) {
    blocked.push({ via: 'fetch', url: String(url) })
    throw new TypeError(`fetch failed: blocked by compat harness (non-loopback host): ${url}`)
  }
  sdkRequests.push({ method: String(init?.method || input?.method || 'GET').toUpperCase(), url: String(url) })
  return realFetch(input, init)
}
for (const [name, mod] of [['http', http], ['https', https]]) {
  for (const fn of ['request', 'get']) {
    const orig = mod[fn]
    mod[fn] = function guarded(...args) {
      const a = args[0]
      const url = typeof a === 'string' || a instanceof URL ? String(a) : `${name}://${a?.hostname || a?.host || 'localhost'}/`
      if (!isLoopback(url)) {
        blocked.push({ via: `${name}.${fn}`, url })
        throw new Error(`blocked by compat harness (non-loopback host): ${url}`)
      }
      return orig.apply(this, args)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Emulator process.
const emulatorBin = path.resolve(process.argv[2] || process.env.EMULATOR_BIN || path.join(HERE, '../../target/debug/cloudbase-emulator'))
let child = null
let emuStderr = ''
const emuStdoutLines = []

function killEmulator(signal = 'SIGKILL') {
  if (child && child.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, signal) // its own process group (also catches a wrapper script's children)
    } catch {
      try {
        child.kill(signal)
      } catch {}
    }
  }
}
process.on('exit', () => killEmulator('SIGKILL'))
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    out(`FAIL harness: got ${sig}`)
    failed += Math.max(1, flows.length - passed - failed)
    finish(1)
    process.exit(1)
  })
}

function startEmulator() {
  return new Promise((resolve, reject) => {
    let settled = false
    const done = (err, val) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      err ? reject(err) : resolve(val)
    }
    const timer = setTimeout(() => done(new Error(`no first line from the emulator within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
    try {
      child = spawn(emulatorBin, ['--port', '0', '--env', ENV_ID, ...forwardFlags()], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    } catch (e) {
      return done(e)
    }
    child.on('error', (e) => done(new Error(`cannot start ${emulatorBin}: ${e.message}`)))
    child.on('exit', (code, sig) => done(new Error(`emulator exited early (code ${code}, signal ${sig}): ${emuStderr.trim()}`)))
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => {
      emuStderr += d
    })
    let buf = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim()
        buf = buf.slice(i + 1)
        emuStdoutLines.push(line)
        if (emuStdoutLines.length === 1) {
          const m = /^cloudbase-emulator listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/.exec(line)
          if (m) done(null, { origin: m[1], port: Number(m[2]) })
          else done(new Error(`unexpected first line from the emulator: ${JSON.stringify(line)}`))
        }
      }
    })
  })
}

// ---------------------------------------------------------------------------------------------------------
// Helpers.
let EMU = '' // emulator origin
let SDK_VERSION = '' // installed @cloudbase/js-sdk version

async function control(method, p, body) {
  const res = await realFetch(`${EMU}${p}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5_000),
  })
  const text = await res.text()
  let json
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = text
  }
  if (!res.ok) throw new Error(`${method} ${p} -> ${res.status} ${text}`)
  return json
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function waitFor(what, fn, ms = POLL_TIMEOUT_MS) {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(25)
  }
}

/** The code most recently "sent" to `target` (outbox is cleared before each code request). */
async function codeFor(target) {
  const entry = await waitFor(`a code for ${target} in /_emulator/outbox`, async () => {
    const box = await control('GET', '/_emulator/outbox')
    return [...box].reverse().find((e) => String(e.target).toLowerCase() === target.toLowerCase())
  })
  return entry
}

class Check extends Error {}
function assert(cond, msg, detail) {
  if (!cond) throw new Check(detail === undefined ? msg : `${msg}: ${safeJson(detail)}`)
}
function ok(res, what) {
  const e = res?.error
  assert(res && !e, `${what} returned an error`, e && { code: e.code, status: e.status, errorCode: e.errorCode, message: e.message, category: e.category, requestId: e.requestId })
  return res.data
}

const events = [] // [{event, session, info}]
const notes = [] // observations that are not failures (printed as NOTE lines)
async function waitEvent(name, fromIndex) {
  return waitFor(`auth event ${name}`, async () => events.slice(fromIndex).find((e) => e.event === name), POLL_TIMEOUT_MS)
}

// ---------------------------------------------------------------------------------------------------------
// Flows.
const USER_EMAIL = 'ada@example.com'
const USER_PASSWORD = 'correct-horse-1'
const USER_NAME = 'ada_lovelace'
const NEW_EMAIL = 'grace@example.com'
const NEW_PASSWORD = 'hopper-cobol-59'
const RESET_PASSWORD = 'new-battery-staple-2'

let auth
let app

// ---------------------------------------------------------------------------------------------------------
// The local server that holds the function, cloud run and API logic: the emulator binary forwards to it
// (`--function sum=...`, `--cloudrun svc=...`, `--api label=...`), so what the SDK gets back is real logic.
let LOCAL = '' // http://127.0.0.1:PORT of the local server
let localServer = null
const localSeen = [] // [{method, url, headers}] what the local server received

function startLocalServer() {
  return new Promise((resolve, reject) => {
    localServer = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        localSeen.push({ method: req.method, url: req.url, headers: req.headers })
        const caller = req.headers['x-cloudbase-caller'] ?? null
        const userId = req.headers['x-cloudbase-user-id'] ?? null
        const json = (status, v) => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(v))
        }
        if (req.method === 'POST' && req.url === '/fn/sum') {
          let event = {}
          try {
            event = JSON.parse(body || '{}')
          } catch {}
          return json(200, { sum: Number(event.a ?? 0) + Number(event.b ?? 0), caller, userId, contentType: req.headers['content-type'] })
        }
        if (req.method === 'POST' && req.url === '/fn/hello') {
          res.writeHead(200, { 'content-type': 'text/plain' })
          return res.end('Hello fn')
        }
        if (req.method === 'POST' && req.url === '/fn/order') {
          return json(200, { code: 'ORDER_NOT_FOUND', message: 'no such order', data: null })
        }
        if (req.url.startsWith('/svc') || req.url.startsWith('/api')) {
          return json(200, { method: req.method, url: req.url, body, caller, userId, hasAuthorization: 'authorization' in req.headers })
        }
        json(404, { error: 'local server: no route', url: req.url })
      })
    })
    localServer.on('error', reject)
    localServer.listen(0, '127.0.0.1', () => {
      LOCAL = `http://127.0.0.1:${localServer.address().port}`
      resolve()
    })
  })
}

function forwardFlags() {
  return [
    '--function', `sum=${LOCAL}/fn/sum`,
    '--function', `hello=${LOCAL}/fn/hello`,
    '--function', `order=${LOCAL}/fn/order`,
    '--cloudrun', `svc=${LOCAL}/svc`,
    '--api', `label=${LOCAL}/api`,
  ]
}
let newUserId = ''

async function signInAda() {
  const r = await auth.signInWithPassword({ email: USER_EMAIL, password: USER_PASSWORD })
  ok(r, 'signInWithPassword')
  return r.data
}

const flows = [
  [
    'signInAnonymously twice -> same anonymous uid',
    async () => {
      const evStart = events.length
      const a = ok(await auth.signInAnonymously(), 'signInAnonymously #1')
      assert(a.user?.id, 'no user id', a.user)
      assert(a.user.is_anonymous === true, 'user.is_anonymous is not true', a.user)
      assert(a.session?.access_token && a.session?.refresh_token, 'session without tokens', a.session)
      await waitEvent('SIGNED_IN', evStart)
      const b = ok(await auth.signInAnonymously(), 'signInAnonymously #2')
      assert(b.user?.id === a.user.id, 'second anonymous sign-in gave another uid', { first: a.user.id, second: b.user?.id })
      assert(b.session.access_token !== a.session.access_token, 'same access token twice')
      ok(await auth.signOut(), 'signOut')
      return `uid ${a.user.id}`
    },
  ],
  [
    'signUp({email, password}) + verifyOtp({token}) -> new user; getUser shows the email',
    async () => {
      await control('DELETE', '/_emulator/outbox')
      const r = ok(await auth.signUp({ email: NEW_EMAIL, password: NEW_PASSWORD }), 'signUp')
      assert(typeof r.verifyOtp === 'function', 'signUp result has no verifyOtp callback', r)
      const sent = await codeFor(NEW_EMAIL)
      const v = ok(await r.verifyOtp({ token: sent.code }), 'verifyOtp')
      assert(v.user?.email === NEW_EMAIL, 'verifyOtp user email', v.user)
      assert(v.user.is_anonymous === false, 'signed-up user is anonymous', v.user)
      assert(v.session?.access_token, 'no session after verifyOtp', v)
      const u = ok(await auth.getUser(), 'getUser')
      assert(u.user?.email === NEW_EMAIL, 'getUser email', u.user)
      newUserId = u.user.id
      assert(u.user.user_metadata?.hasPassword === true, 'user_metadata.hasPassword (SDK 3.7 reads password == "SET")', u.user.user_metadata)
      ok(await auth.signOut(), 'signOut')
      const p = ok(await auth.signInWithPassword({ email: NEW_EMAIL, password: NEW_PASSWORD }), 'signInWithPassword with the sign-up password')
      assert(p.user?.id === newUserId, 'password sign-in reached another user', { expected: newUserId, got: p.user?.id })
      ok(await auth.signOut(), 'signOut')
      return `uid ${newUserId}, code usage ${sent.usage}`
    },
  ],
  [
    'signInWithOtp({email}) existing user + verifyOtp({token}) -> same user',
    async () => {
      await control('DELETE', '/_emulator/outbox')
      const r = ok(await auth.signInWithOtp({ email: NEW_EMAIL }), 'signInWithOtp')
      assert(typeof r.verifyOtp === 'function', 'no verifyOtp callback', r)
      const sent = await codeFor(NEW_EMAIL)
      const v = ok(await r.verifyOtp({ token: sent.code }), 'verifyOtp')
      assert(v.user?.id === newUserId && v.user.email === NEW_EMAIL, 'OTP sign-in reached another user', { expected: newUserId, got: v.user })
      ok(await auth.signOut(), 'signOut')
      return `uid ${v.user.id}`
    },
  ],
  [
    'signInWithOtp({email, options: {shouldCreateUser: false}}) + verifyOtp -> same user',
    async () => {
      await control('DELETE', '/_emulator/outbox')
      const r = ok(await auth.signInWithOtp({ email: NEW_EMAIL, options: { shouldCreateUser: false } }), 'signInWithOtp')
      const sent = await codeFor(NEW_EMAIL)
      const v = ok(await r.verifyOtp({ token: sent.code }), 'verifyOtp')
      assert(v.user?.id === newUserId, 'OTP sign-in reached another user', { expected: newUserId, got: v.user })
      ok(await auth.signOut(), 'signOut')
      return `uid ${v.user.id}`
    },
  ],
  [
    'signInWithPassword (user made via /_emulator/users) by email and by username',
    async () => {
      const { id } = await control('POST', '/_emulator/users', { email: USER_EMAIL, password: USER_PASSWORD, name: 'Ada', username: USER_NAME })
      const evStart = events.length
      const a = await signInAda()
      assert(String(a.user?.id) === String(id), 'signed in as another user', { created: id, got: a.user?.id })
      assert(a.user.email === USER_EMAIL, 'user email', a.user)
      await waitEvent('SIGNED_IN', evStart)
      ok(await auth.signOut(), 'signOut')
      const b = ok(await auth.signInWithPassword({ username: USER_NAME, password: USER_PASSWORD }), 'signInWithPassword(username)')
      assert(b.user?.id === a.user.id, 'username sign-in reached another user', b.user)
      const bad = await auth.signInWithPassword({ email: USER_EMAIL, password: 'wrong-password' })
      assert(bad.error, 'a wrong password was accepted', bad.data)
      return `uid ${a.user.id}; wrong password -> ${bad.error.code}`
    },
  ],
  [
    'getSession + refreshSession -> rotated refresh token, old one rejected',
    async () => {
      await signInAda()
      const s = ok(await auth.getSession(), 'getSession')
      assert(s.session?.access_token && s.session.refresh_token, 'getSession without tokens', s.session)
      assert(s.session.user?.email === USER_EMAIL, 'getSession user', s.session.user)
      const oldRt = s.session.refresh_token
      const evStart = events.length
      const r = ok(await auth.refreshSession(), 'refreshSession')
      assert(r.session?.refresh_token && r.session.refresh_token !== oldRt, 'refresh token not rotated', { old: oldRt, new: r.session?.refresh_token })
      assert(r.session.access_token && r.session.access_token !== s.session.access_token, 'access token not renewed')
      assert(r.user?.email === USER_EMAIL, 'refreshSession user', r.user)
      await waitEvent('TOKEN_REFRESHED', evStart)
      const s2 = ok(await auth.getSession(), 'getSession after refresh')
      assert(s2.session?.refresh_token === r.session.refresh_token, 'getSession does not hold the new refresh token')
      const u = ok(await auth.getUser(), 'getUser with the new access token')
      assert(u.user?.email === USER_EMAIL, 'getUser after refresh', u.user)
      const mark = (await control('GET', '/_emulator/exchanges')).length
      const stale = await auth.refreshSession(oldRt)
      assert(stale.error, 'the old (rotated) refresh token was accepted again', stale.data)
      const ex = (await control('GET', '/_emulator/exchanges')).slice(mark).find((e) => e.path === '/auth/v1/token')
      assert(ex && ex.request_body?.refresh_token === oldRt, 'the SDK did not send the old refresh token to /auth/v1/token', ex)
      assert(ex.status === 400 && ex.response_body?.error === 'invalid_grant', 'emulator answer to the stale refresh token', ex)
      // SDK: invalid_grant -> local session dropped, error reported as unauthenticated
      const gone = await auth.getSession()
      assert(gone.data.session === null, 'SDK kept the session after invalid_grant', gone.data)
      return `old refresh token -> emulator 400 invalid_grant, SDK error ${stale.error.code}, local session dropped`
    },
  ],
  [
    'getClaims -> decoded access token of the signed-in user',
    async () => {
      const a = await signInAda()
      const c = ok(await auth.getClaims(), 'getClaims')
      assert(c.claims?.sub === a.user.id, 'claims.sub is not the user id', { sub: c.claims?.sub, id: a.user.id })
      assert(c.header?.alg, 'no JWT header', c.header)
      assert(c.claims.exp > Date.now() / 1000, 'claims.exp not in the future', c.claims)
      return `sub ${c.claims.sub}, aud ${safeJson(c.claims.aud)}, scope ${c.claims.scope}`
    },
  ],
  [
    'updateUser({nickname}) -> USER_UPDATED; getUser shows it',
    async () => {
      await signInAda()
      const evStart = events.length
      const r = ok(await auth.updateUser({ nickname: 'Countess' }), 'updateUser')
      assert(r.user, 'updateUser returned no user', r)
      await waitEvent('USER_UPDATED', evStart)
      const u = ok(await auth.getUser(), 'getUser')
      const md = u.user?.user_metadata || {}
      assert(md.name === 'Countess' || md.nickName === 'Countess', 'nickname not visible in getUser().user_metadata', md)
      return `user_metadata.name ${md.name}`
    },
  ],
  [
    'getUserIdentities -> list',
    async () => {
      await signInAda()
      const r = ok(await auth.getUserIdentities(), 'getUserIdentities')
      assert(Array.isArray(r.identities), 'identities is not an array', r)
      return `${r.identities.length} bound identities`
    },
  ],
  [
    'resetPasswordForEmail + updateUser({nonce, password}) -> PASSWORD_RECOVERY, signed in with the new password',
    async () => {
      ok(await auth.signOut(), 'signOut')
      await control('DELETE', '/_emulator/outbox')
      const r = ok(await auth.resetPasswordForEmail(USER_EMAIL), 'resetPasswordForEmail')
      assert(typeof r.updateUser === 'function', 'no updateUser callback', r)
      const sent = await codeFor(USER_EMAIL)
      const evStart = events.length
      const s = ok(await r.updateUser({ nonce: sent.code, password: RESET_PASSWORD }), 'updateUser({nonce, password})')
      assert(s.user?.email === USER_EMAIL && s.session?.access_token, 'not signed in after the reset', s)
      await waitEvent('PASSWORD_RECOVERY', evStart)
      ok(await auth.signOut(), 'signOut')
      const old = await auth.signInWithPassword({ email: USER_EMAIL, password: USER_PASSWORD })
      assert(old.error, 'the old password still works')
      ok(await auth.signInWithPassword({ email: USER_EMAIL, password: RESET_PASSWORD }), 'signInWithPassword(new password)')
      return `code usage ${sent.usage}`
    },
  ],
  [
    'signOut -> SIGNED_OUT, session null, token revoked',
    async () => {
      const s = ok(await auth.getSession(), 'getSession')
      assert(s.session?.access_token, 'not signed in before signOut')
      const at = s.session.access_token
      const evStart = events.length
      ok(await auth.signOut(), 'signOut')
      await waitEvent('SIGNED_OUT', evStart)
      const after = await auth.getSession()
      // SDK 3.7 quirk (reference 8.9): with no credential at all, getSession answers {session: null} plus an
      // `unauthenticated` "credentials not found" error instead of a bare null session.
      assert(after.data.session === null, 'getSession after signOut still has a session', after.data)
      assert(!after.error || after.error.code === 'unauthenticated', 'getSession after signOut: unexpected error', after.error)
      const u = await auth.getUser()
      assert(u.data.user === null, 'getUser after signOut still has a user', u.data)
      const res = await realFetch(`${EMU}/auth/v1/user/me`, { headers: { authorization: `Bearer ${at}`, [HARNESS_HEADER]: '1' }, signal: AbortSignal.timeout(5_000) })
      assert(res.status === 401, 'the signed-out access token still works at /auth/v1/user/me', res.status)
      return 'revoked token -> 401'
    },
  ],
  [
    'wire: SDK requests reached the emulator under /auth/v1 with the SDK headers; nothing left 127.0.0.1',
    async () => {
      const hdr = (r, k) => {
        const h = r.headers || {}
        const hit = Object.keys(h).find((x) => x.toLowerCase() === k)
        return hit === undefined ? undefined : h[hit]
      }
      const all = await control('GET', '/_emulator/requests')
      const reqs = all.filter((r) => hdr(r, HARNESS_HEADER) === undefined)
      assert(reqs.length > 0, 'the emulator logged no SDK requests', all)
      assert(reqs.length === sdkRequests.length, 'the emulator saw a different number of requests than the SDK sent', { emulator: reqs.length, sdk: sdkRequests.length })
      const notAuth = reqs.filter((r) => !String(r.path).startsWith('/auth/v1/'))
      assert(notAuth.length === 0, 'requests outside /auth/v1/', notAuth.map((r) => `${r.method} ${r.path}`))
      const noSdk = reqs.filter((r) => hdr(r, 'x-sdk-version') !== `@cloudbase/js-sdk/${SDK_VERSION}` || !hdr(r, 'x-device-id') || !hdr(r, 'x-request-id'))
      assert(noSdk.length === 0, `requests without X-SDK-Version @cloudbase/js-sdk/${SDK_VERSION}, x-device-id or x-request-id`, noSdk.slice(0, 3))
      const devices = new Set(reqs.map((r) => hdr(r, 'x-device-id')))
      assert(devices.size === 1, 'the SDK used more than one device id', [...devices])
      const sdkNonLoopback = blocked.filter((b) => !b.url.startsWith('http://metadata.tencentyun.com/'))
      assert(sdkNonLoopback.length === 0, 'the SDK tried to reach other hosts', sdkNonLoopback)
      const ops = [...new Set(reqs.map((r) => `${r.method} ${r.path}`))].sort()
      const types = [...new Set(reqs.filter((r) => r.method !== 'GET').map((r) => hdr(r, 'content-type') ?? 'none'))]
      return `${reqs.length} requests, ${ops.length} distinct: ${ops.join(', ')}; request content types: ${types.join(', ')}; `
        + `refused metadata probes: ${blocked.length}`
    },
  ],
  [
    'callFunction({name, data}) -> the forwarded function\'s JSON, text and `code` replies; unknown name -> FUNCTION_NOT_FOUND',
    async () => {
      const a = ok(await auth.signInAnonymously(), 'signInAnonymously')
      const r = await app.callFunction({ name: 'sum', data: { a: 1, b: 2 } })
      assert(r?.result?.sum === 3, 'callFunction(sum) result', r)
      assert(r.result.caller === 'anonymous' && r.result.userId === a.user.id, 'the function did not learn the caller', r.result)
      assert(typeof r.requestId === 'string' && r.requestId, 'no requestId', r)
      const h = await app.callFunction({ name: 'hello' })
      assert(h?.result === 'Hello fn', 'callFunction(hello) text result', h)
      // SDK 3.7 (traffic ref 2.3): a reply with a truthy `code` is spread at the top level, no `result`.
      const o = await app.callFunction({ name: 'order', data: {} })
      assert(o?.code === 'ORDER_NOT_FOUND' && !('result' in o), 'a function reply with `code`', o)
      const missing = await app.callFunction({ name: 'nope', data: {} })
      assert(missing?.code === 'FUNCTION_NOT_FOUND' && missing.requestId, 'unknown function', missing)
      return `sum -> ${JSON.stringify(r.result)}; hello -> ${JSON.stringify(h.result)}; nope -> ${missing.code}`
    },
  ],
  [
    'callContainer({name, method, path, data}) -> the forwarded service sees method, path, query, body, caller',
    async () => {
      const p = await app.callContainer({ name: 'svc', method: 'POST', path: '/items/42', data: { x: 1 } })
      assert(p?.method === 'POST' && p.url === '/svc/items/42', 'POST path', p)
      assert(p.body === '{"x":1}' && p.caller === 'anonymous' && p.hasAuthorization === false, 'POST body/caller', p)
      const g = await app.callContainer({ name: 'svc', method: 'GET', path: 'items', data: { page: 2, q: 'a b' } })
      assert(g?.method === 'GET' && g.url === '/svc/items?page=2&q=a%20b' && g.body === '', 'GET with query', g)
      const root = await app.callContainer({ name: 'svc' })
      assert(root?.method === 'POST' && root.url === '/svc/', 'no path -> /', root)
      const d = await app.callContainer({ name: 'svc', method: 'DELETE', path: '/items/42' })
      assert(d?.method === 'DELETE', 'DELETE', d)
      const missing = await app.callContainer({ name: 'nope', path: '/' })
      assert(missing?.code === 'SERVICE_NOT_FOUND', 'unknown service', missing)
      const viaFn = await app.callFunction({ type: 'cloudrun', name: 'svc', path: '/fn', data: { y: 2 } })
      assert(viaFn?.result?.url === '/svc/fn' && viaFn.result.body === '{"y":2}', 'callFunction({type: cloudrun})', viaFn)
      return `POST ${p.url}, GET ${g.url}, root ${root.url}; nope -> ${missing.code}`
    },
  ],
  [
    'app.apis[label].post/get({path, body}) -> the forwarded API',
    async () => {
      const api = app.apis?.label
      assert(api && typeof api.post === 'function', 'app.apis is not available in this build', typeof app.apis)
      const p = await api.post({ path: 'method1', body: { a: 1 } })
      assert(p?.method === 'POST' && p.url === '/api/method1' && p.body === '{"a":1}' && p.caller === 'anonymous', 'apis POST', p)
      const g = await api.get({ path: '/weather', body: { city: 'Shenzhen', days: 3 } })
      assert(g?.method === 'GET' && g.url === '/api/weather?city=Shenzhen&days=3', 'apis GET', g)
      const missing = await app.apis.nope.get({ path: '/' })
      assert(missing?.code === 'API_NOT_FOUND', 'unknown API', missing)
      return `POST ${p.url}, GET ${g.url}; nope -> ${missing.code}`
    },
  ],
  [
    'wire: functions / cloudrun / apis requests carried the SDK token and were counted by operation id',
    async () => {
      const all = await control('GET', '/_emulator/requests')
      const v1 = all.filter((r) => String(r.path).startsWith('/v1/'))
      const ops = [...new Set(v1.map((r) => r.operation_id))].sort()
      for (const op of ['call_function', 'call_container_post', 'call_container_get', 'call_container_delete', 'call_api_post', 'call_api_get']) {
        assert(ops.includes(op), `no ${op} request logged`, ops)
      }
      assert(v1.every((r) => !('authorization' in r.headers)), 'the request log kept an Authorization header')
      const leaked = localSeen.filter((r) => 'authorization' in r.headers)
      assert(leaked.length === 0, 'the local server received an Authorization header', leaked.map((r) => r.url))
      const exchanges = await control('GET', '/_emulator/exchanges')
      const fn = exchanges.find((x) => x.operation_id === 'call_function' && x.status === 200)
      assert(fn && fn.request_body?.a === 1 && fn.response_body?.sum === 3, 'call_function exchange', fn)
      return `${v1.length} /v1 requests, operations: ${ops.join(', ')}; local server saw ${localSeen.length}`
    },
  ],
]

// ---------------------------------------------------------------------------------------------------------
let passed = 0
let failed = 0
let finished = false

function finish(code) {
  if (finished) return
  finished = true
  out(`${passed} passed, ${failed} failed`)
  killEmulator('SIGTERM')
  try {
    localServer?.close()
    localServer?.closeAllConnections?.()
  } catch {}
  // give the emulator a moment to stop; the 'exit' hook SIGKILLs it anyway
  setTimeout(() => process.exit(code), 50).unref()
  process.exitCode = code
}

const overall = setTimeout(() => {
  out(`FAIL harness: overall timeout of ${OVERALL_TIMEOUT_MS} ms reached`)
  failed += Math.max(1, flows.length - passed - failed)
  finish(1)
  process.exit(1)
}, OVERALL_TIMEOUT_MS)

async function dumpDiagnostics(sinceReq, sinceExchange) {
  for (const l of sdkLog) out(`    ${l.split('\n').join('\n    ')}`)
  const recent = sdkRequests.slice(sinceReq)
  if (recent.length) out(`    SDK requests in this flow: ${recent.map((r) => `${r.method} ${r.url.replace(EMU, '')}`).join(' | ')}`)
  try {
    const ex = (await control('GET', '/_emulator/exchanges')).slice(sinceExchange)
    for (const e of ex) {
      out(`    exchange: ${e.method} ${e.path}${e.query ? `?${e.query}` : ''} [${e.request_content_type ?? 'no content-type'}] `
        + `${safeJson(e.request_body)} -> ${e.status} ${safeJson(e.response_body)}`)
    }
  } catch (err) {
    out(`    (cannot read /_emulator/exchanges: ${err.message})`)
  }
  if (emuStderr.trim()) out(`    emulator stderr: ${emuStderr.trim()}`)
}

async function main() {
  out(`emulator: ${emulatorBin}`)
  try {
    await startLocalServer()
    out(`local function/service server on ${LOCAL}`)
    const started = await startEmulator()
    EMU = started.origin
    out(`emulator listening on ${EMU}`)
    SDK_VERSION = JSON.parse(readFileSync(path.join(HERE, 'node_modules/@cloudbase/js-sdk/package.json'), 'utf8')).version
    const { default: cloudbase } = await import('@cloudbase/js-sdk')
    app = cloudbase.init({ env: ENV_ID })
    // The override: the SDK's own public API (3.7). Gateway base becomes //127.0.0.1:PORT/v1; the auth module
    // takes the origin of it and appends /auth, so requests go to http://127.0.0.1:PORT/auth/v1/...
    app.registerHost(`127.0.0.1:${started.port}`, 'http')
    auth = app.auth()
    auth.onAuthStateChange((event, session, info) => events.push({ event, session, info }))
    out(`@cloudbase/js-sdk ${SDK_VERSION} (cloudbase.version ${cloudbase.version}), env ${ENV_ID}, registerHost("127.0.0.1:${started.port}", "http")`)
  } catch (e) {
    out(`FAIL harness: ${e?.message || e}`)
    for (const l of sdkLog) out(`    ${l}`)
    failed += flows.length
    return finish(1)
  }

  for (const [name, fn] of flows) {
    sdkLog = []
    const reqMark = sdkRequests.length
    let exMark = 0
    try {
      exMark = (await control('GET', '/_emulator/exchanges')).length
    } catch {}
    let timer
    try {
      const note = await Promise.race([
        fn(),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`flow timed out after ${FLOW_TIMEOUT_MS} ms`)), FLOW_TIMEOUT_MS)
        }),
      ])
      passed++
      out(`PASS ${name}${note ? ` (${note})` : ''}`)
      if (VERBOSE) await dumpDiagnostics(reqMark, exMark)
    } catch (e) {
      failed++
      out(`FAIL ${name}: ${e instanceof Check ? e.message : e?.stack || e}`)
      await dumpDiagnostics(reqMark, exMark)
    } finally {
      clearTimeout(timer)
    }
  }
  clearTimeout(overall)
  for (const n of notes) out(`NOTE ${n}`)
  finish(failed === 0 ? 0 : 1)
}

process.on('uncaughtException', (e) => {
  out(`FAIL harness: uncaught exception: ${e?.stack || e}`)
  failed++
  finish(1)
})
process.on('unhandledRejection', (e) => {
  out(`FAIL harness: unhandled rejection: ${e?.stack || safeJson(e)}`)
  failed++
  finish(1)
})

main()
