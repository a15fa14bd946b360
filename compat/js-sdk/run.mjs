// Runs the auth, functions / cloud run / APIs, storage, MySQL (PostgREST) and data model flows of the OFFICIAL
// CloudBase JS SDK (@cloudbase/js-sdk, unmodified, from npm) against a cloudbase-emulator binary started by this
// script (with `--seed-data seed-data.json`: the `users` table and the `todo` / `comment` models).
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
import { isDeepStrictEqual } from 'node:util'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ENV_ID = 'emulator-env'
const OVERALL_TIMEOUT_MS = 120_000
const FLOW_TIMEOUT_MS = 15_000
const START_TIMEOUT_MS = 15_000
const POLL_TIMEOUT_MS = 5_000
const VERBOSE = !!process.env.VERBOSE
const HARNESS_HEADER = 'x-compat-harness' // marks the harness's own direct calls to the emulator (not the SDK's)
const SEED_FILE = path.join(HERE, 'seed-data.json') // --seed-data: the MySQL `users` table, the `todo` / `comment` models

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
function headerOf(headers, name) {
  if (!headers) return undefined
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined
  const entries = Array.isArray(headers) ? headers : Object.entries(headers)
  const hit = entries.find(([k]) => String(k).toLowerCase() === name)
  return hit === undefined ? undefined : String(hit[1])
}
globalThis.fetch = async function guardedFetch(input, init) {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input?.url
  if (!isLoopback(url)) {
    blocked.push({ via: 'fetch', url: String(url) })
    throw new TypeError(`fetch failed: blocked by compat harness (non-loopback host): ${url}`)
  }
  // `authorization` is kept (the emulator's request log drops it) so a flow can show what credential the SDK sent
  sdkRequests.push({ method: String(init?.method || input?.method || 'GET').toUpperCase(), url: String(url), authorization: headerOf(init?.headers ?? input?.headers, 'authorization') })
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
      child = spawn(emulatorBin, ['--port', '0', '--env', ENV_ID, '--seed-data', SEED_FILE, ...forwardFlags()], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
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
// ---------------------------------------------------------------------------------------------------------
// Helpers of the storage, MySQL and data model flows.
const BUCKET = `${ENV_ID}-1250000000` // the emulator's bucket; a file id is cloud://{env}.{bucket}/{key}
const fileIdOf = (key) => `cloud://${ENV_ID}.${BUCKET}/${key}`
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/ // the SDK's request ids (ref 1.4)
const reqHeader = (r, k) => {
  const h = r.headers || {}
  const hit = Object.keys(h).find((x) => x.toLowerCase() === k)
  return hit === undefined ? undefined : h[hit]
}
function same(actual, expected, what) {
  assert(isDeepStrictEqual(actual, expected), what, { expected, got: actual })
}
/** A postgrest-js result `{data, error, count, status}` that must be a success with this status. */
function pgOk(r, what, status) {
  assert(r && r.error === null, `${what} returned an error`, r && { error: r.error, status: r.status })
  assert(r.status === status, `${what}: HTTP status`, { expected: status, got: r.status })
  return r.data
}
/** A postgrest-js result that must be an error with this status and code. */
function pgErr(r, what, status, code) {
  assert(r && r.error && r.data === null, `${what} did not fail`, r && { data: r.data, error: r.error, status: r.status })
  assert(r.status === status && r.error.code === code, `${what}: status / code`, { expected: { status, code }, got: { status: r.status, error: r.error } })
  return r.error
}
async function throws(promise, what) {
  try {
    const v = await promise
    throw new Check(`${what} did not throw: ${safeJson(v)}`)
  } catch (e) {
    if (e instanceof Check) throw e
    return e
  }
}
async function fetchBytes(url) {
  const res = await realFetch(url, { headers: { [HARNESS_HEADER]: '1' }, signal: AbortSignal.timeout(5_000) })
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
}
let dataMark = null // {sdk, emu}: where the storage / MySQL / model flows start in sdkRequests and /_emulator/requests
let anonUid = ''
const modelIds = {} // the todo records the model flows create
async function signInAnon() {
  const a = ok(await auth.signInAnonymously(), 'signInAnonymously')
  anonUid = a.user.id
  return a
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
  // -------------------------------------------------------------------------------------------------------
  // Storage (classic API on the gateway, reference section 7), signed in anonymously.
  [
    'storage: uploadFile -> cloud:// fileID; getTempFileURL (hit + OBJECT_NOT_EXIST); temp URL bytes; downloadFile',
    async () => {
      dataMark = { sdk: sdkRequests.length, emu: (await control('GET', '/_emulator/requests')).length }
      await signInAnon()
      const content = Buffer.from('hello from js')
      const fileID = fileIdOf('compat/hello.txt')
      const up = await app.uploadFile({ cloudPath: 'compat/hello.txt', fileContent: content })
      assert(up?.fileID === fileID && up.fileID.startsWith('cloud://'), 'uploadFile fileID', up)
      assert(String(up.download_url).startsWith(`${EMU}/_cos/${BUCKET}/compat/hello.txt?sign=`), 'uploadFile download_url', up)
      assert(UUID_SHAPE.test(up.requestId), 'uploadFile requestId (the SDK-made id)', up)
      const missingID = fileIdOf('compat/missing.txt')
      const t = await app.getTempFileURL({ fileList: [fileID, missingID] })
      assert(Array.isArray(t?.fileList) && t.fileList.length === 2, 'getTempFileURL fileList', t)
      const [hit, miss] = t.fileList
      assert(hit.code === 'SUCCESS' && hit.fileID === fileID && String(hit.tempFileURL).startsWith(`${EMU}/_cos/${BUCKET}/compat/hello.txt?`), 'getTempFileURL first item', hit)
      assert(hit.download_url === hit.tempFileURL, 'getTempFileURL download_url / tempFileURL differ', hit)
      assert(miss.code === 'OBJECT_NOT_EXIST' && miss.fileID === missingID && !miss.tempFileURL, 'getTempFileURL missing item', miss)
      const got = await fetchBytes(hit.tempFileURL) // the real fetch: no SDK header, no token
      assert(got.status === 200 && got.bytes.equals(content), 'GET tempFileURL bytes', { status: got.status, body: got.bytes.toString() })
      assert(got.type === 'text/plain', 'stored content type (the SDK signs text/plain for .txt)', got.type)
      const forged = await fetchBytes(hit.tempFileURL.replace(/sign=[0-9a-f]/, (m) => (m.endsWith('0') ? 'sign=1' : 'sign=0')))
      assert(forged.status === 403, 'a temp URL with a changed signature was served', forged.status)
      const d = await app.downloadFile({ fileID })
      assert(d?.statusCode === 200 && Buffer.isBuffer(d.fileContent) && d.fileContent.equals(content), 'downloadFile fileContent', d && { statusCode: d.statusCode, fileContent: String(d.fileContent) })
      return `${fileID}; missing -> ${miss.code}; temp URL ${got.bytes.length} bytes ${got.type}; forged sign -> ${forged.status}; downloadFile ok`
    },
  ],
  [
    'storage: copyFile (cloud path and file id sources, overwrite false -> OBJECT_ALREADY_EXIST, move); deleteFile -> SUCCESS, then OBJECT_NOT_EXIST',
    async () => {
      await signInAnon()
      const content = Buffer.from('hello from js')
      const fileID = fileIdOf('compat/hello.txt')
      // SDK docs (core.d.ts): srcPath / dstPath are cloud paths ("foo/bar.jpg"); the emulator also takes a file id.
      const c = await app.copyFile({
        fileList: [
          { srcPath: 'compat/hello.txt', dstPath: 'compat/copy.txt', overwrite: true, removeOriginal: false },
          { srcPath: fileID, dstPath: 'compat/copy-by-id.txt', overwrite: true, removeOriginal: false },
          { srcPath: 'compat/hello.txt', dstPath: 'compat/copy.txt', overwrite: false, removeOriginal: false },
        ],
      })
      assert(Array.isArray(c?.fileList) && c.fileList.length === 3, 'copyFile fileList', c)
      same(c.fileList.map((x) => [x.code, x.fileID]), [
        ['SUCCESS', fileIdOf('compat/copy.txt')],
        ['SUCCESS', fileIdOf('compat/copy-by-id.txt')],
        ['OBJECT_ALREADY_EXIST', undefined],
      ], 'copyFile items (code, fileID)')
      const mv = await app.copyFile({ fileList: [{ srcPath: 'compat/copy-by-id.txt', dstPath: 'compat/moved.txt', overwrite: true, removeOriginal: true }] })
      same(mv?.fileList?.map((x) => [x.code, x.fileID]), [['SUCCESS', fileIdOf('compat/moved.txt')]], 'copyFile with removeOriginal (move)')
      for (const key of ['compat/copy.txt', 'compat/moved.txt']) {
        const d = await app.downloadFile({ fileID: fileIdOf(key) })
        assert(d?.fileContent?.equals(content), `downloadFile ${key}`, d && String(d.fileContent))
      }
      const gone = await app.getTempFileURL({ fileList: [fileIdOf('compat/copy-by-id.txt')] })
      assert(gone.fileList[0].code === 'OBJECT_NOT_EXIST', 'the moved source still exists', gone.fileList[0])
      const ids = [fileID, fileIdOf('compat/copy.txt'), fileIdOf('compat/moved.txt')]
      const del = await app.deleteFile({ fileList: ids })
      same(del?.fileList?.map((x) => [x.code, x.fileID]), ids.map((id) => ['SUCCESS', id]), 'deleteFile items (code, fileID)')
      const after = await app.getTempFileURL({ fileList: ids })
      same(after.fileList.map((x) => x.code), ['OBJECT_NOT_EXIST', 'OBJECT_NOT_EXIST', 'OBJECT_NOT_EXIST'], 'getTempFileURL after deleteFile')
      return `copies ${c.fileList.map((x) => x.code).join(', ')}; move ${mv.fileList[0].code}; delete ${del.fileList.map((x) => x.code).join(', ')}`
    },
  ],
  [
    'storage: getUploadMetadata({cloudPath}) -> url, authorization, token, fileId that a plain PUT can use',
    async () => {
      await signInAnon()
      const m = await app.getUploadMetadata({ cloudPath: 'compat/meta.txt' })
      const d = m?.data || {}
      assert(d.url === `${EMU}/_cos/${BUCKET}/compat/meta.txt`, 'data.url', d)
      assert(String(d.authorization).startsWith('q-sign-algorithm=sha1&q-ak=') && /q-signature=[0-9a-f]+$/.test(d.authorization), 'data.authorization', d)
      assert(typeof d.token === 'string' && d.token.length > 0, 'data.token', d)
      assert(d.fileId === fileIdOf('compat/meta.txt') && typeof d.cosFileId === 'string' && d.cosFileId, 'data.fileId / cosFileId', d)
      assert(m.statusCode === 200 && UUID_SHAPE.test(m.requestId), 'statusCode / requestId', { statusCode: m.statusCode, requestId: m.requestId })
      // The metadata is what a browser form or another client uploads with: use it with the real fetch.
      const body = Buffer.from('uploaded with getUploadMetadata')
      const put = await realFetch(d.url, {
        method: 'PUT',
        headers: { authorization: d.authorization, 'x-cos-security-token': d.token, 'x-cos-meta-fileid': d.cosFileId, 'content-type': 'text/plain', [HARNESS_HEADER]: '1' },
        body,
        signal: AbortSignal.timeout(5_000),
      })
      assert(put.status === 200, 'PUT with the metadata', { status: put.status, body: await put.text() })
      const back = await app.downloadFile({ fileID: d.fileId })
      assert(back?.fileContent?.equals(body), 'downloadFile of the metadata upload', back && String(back.fileContent))
      const del = await app.deleteFile({ fileList: [d.fileId] })
      assert(del.fileList[0].code === 'SUCCESS', 'deleteFile', del)
      return `url ${d.url.replace(EMU, '')}, fileId ${d.fileId}; PUT -> ${put.status}`
    },
  ],
  [
    'storage: a key with non-ASCII and a space: uploadFile, getTempFileURL + fetch, downloadFile',
    async () => {
      await signInAnon()
      const key = 'compat/你好 world.txt'
      const content = Buffer.from('nǐ hǎo')
      const up = await app.uploadFile({ cloudPath: key, fileContent: content })
      assert(up?.fileID === fileIdOf(key), 'uploadFile fileID', up)
      const t = await app.getTempFileURL({ fileList: [up.fileID] })
      const item = t.fileList[0]
      assert(item.code === 'SUCCESS', 'getTempFileURL', item)
      const got = await fetchBytes(item.tempFileURL)
      assert(got.status === 200 && got.bytes.equals(content), 'GET tempFileURL', { status: got.status, body: got.bytes.toString() })
      // downloadUrl holds the key as written; the SDK sends GET encodeURI(downloadUrl), which must reach the object.
      const d = await app.downloadFile({ fileID: up.fileID })
      assert(d?.fileContent?.equals(content), 'downloadFile content', d && String(d.fileContent))
      const how = 'downloadFile ok'
      const del = await app.deleteFile({ fileList: [up.fileID] })
      assert(del.fileList[0].code === 'SUCCESS', 'deleteFile', del)
      return `${up.fileID}: temp URL ok; ${how}`
    },
  ],
  // -------------------------------------------------------------------------------------------------------
  // MySQL RESTful (PostgREST dialect, reference section 6): the seeded `users` table (seed-data.json):
  //   1 Ann 31 ann@example.com | 2 "Bob, Jr." 17 | 3 'Zoë "Z" (admin)' 45 | 4 "50% off" NULL deals@shop.example | 5 Carl 60 carl@spam.example
  [
    'mysql reads: app.mysql().from("users") eq (", ( ) % quotes), gte, like, in, is null, not, or, order, range, count exact, head',
    async () => {
      await signInAnon()
      const db = app.mysql()
      const users = () => db.from('users')
      const idsOf = (rows) => rows.map((r) => r.id)
      same(pgOk(await users().select('*').eq('name', 'Bob, Jr.'), 'eq Bob, Jr.', 200),
        [{ _openid: 'seed', age: 17, email: 'bob@example.com', id: 2, name: 'Bob, Jr.' }], 'eq("name", "Bob, Jr.")')
      same(pgOk(await users().select('id, name').eq('name', 'Zoë "Z" (admin)'), 'eq Zoë', 200), [{ id: 3, name: 'Zoë "Z" (admin)' }], 'eq("name", \'Zoë "Z" (admin)\')')
      same(pgOk(await users().select('id').eq('name', '50% off'), 'eq 50% off', 200), [{ id: 4 }], 'eq("name", "50% off")')
      same(pgOk(await users().select('name, age').gte('age', 31).order('age'), 'gte', 200),
        [{ name: 'Ann', age: 31 }, { name: 'Zoë "Z" (admin)', age: 45 }, { name: 'Carl', age: 60 }], 'gte("age", 31).order("age")')
      same(idsOf(pgOk(await users().select('id').like('email', '%@example.com').order('id'), 'like', 200)), [1, 2, 3], 'like("email", "%@example.com")')
      same(idsOf(pgOk(await users().select('id').like('name', '50%'), 'like 50%', 200)), [4], 'like("name", "50%")')
      same(idsOf(pgOk(await users().select('id').in('name', ['Bob, Jr.', 'Ann']).order('id'), 'in names', 200)), [1, 2], 'in("name", ["Bob, Jr.", "Ann"])')
      same(idsOf(pgOk(await users().select('id').in('id', [1, 3, 3]).order('id'), 'in ids', 200)), [1, 3], 'in("id", [1, 3, 3])')
      same(idsOf(pgOk(await users().select('id').is('age', null), 'is null', 200)), [4], 'is("age", null)')
      same(idsOf(pgOk(await users().select('id').not('age', 'is', null).order('id'), 'not is null', 200)), [1, 2, 3, 5], 'not("age", "is", null)')
      same(idsOf(pgOk(await users().select('id').not('email', 'like', '%spam%').order('id'), 'not like', 200)), [1, 2, 3, 4], 'not("email", "like", "%spam%")')
      same(idsOf(pgOk(await users().select('id').or('age.lt.18,and(age.gte.40,name.eq.Carl)').order('id'), 'or', 200)), [2, 5], 'or("age.lt.18,and(age.gte.40,name.eq.Carl)")')
      same(idsOf(pgOk(await users().select('id').or('name.eq."Bob, Jr.",email.eq.zoe@example.com').order('id'), 'or quoted', 200)), [2, 3], 'or with a quoted value')
      same(pgOk(await users().select('id, age').order('age', { ascending: false, nullsFirst: true }), 'order', 200),
        [{ id: 4, age: null }, { id: 5, age: 60 }, { id: 3, age: 45 }, { id: 1, age: 31 }, { id: 2, age: 17 }], 'order("age", {ascending: false, nullsFirst: true})')
      same(idsOf(pgOk(await users().select('id').order('id').range(1, 2), 'range', 200)), [2, 3], 'order("id").range(1, 2)')
      const cnt = await users().select('id, name', { count: 'exact' }).gte('age', 18).order('id')
      same(pgOk(cnt, 'count exact', 200), [{ id: 1, name: 'Ann' }, { id: 3, name: 'Zoë "Z" (admin)' }, { id: 5, name: 'Carl' }], 'select("id, name", {count: "exact"}).gte("age", 18)')
      assert(cnt.count === 3, 'count of select(..., {count: "exact"})', cnt.count)
      const head = await users().select('*', { count: 'exact', head: true })
      assert(pgOk(head, 'head', 200) === null && head.count === 5, 'select("*", {count: "exact", head: true})', { data: head.data, count: head.count })
      const explicit = await app.mysql({ instance: 'default', database: ENV_ID }).from('users').select('id').eq('id', 5)
      same(pgOk(explicit, 'mysql({instance, database})', 200), [{ id: 5 }], 'mysql({instance: "default", database: env})')
      return '17 queries, all rows as expected; count 3, head count 5'
    },
  ],
  [
    'mysql single / maybeSingle: one row -> object; two rows -> 406; none -> null',
    async () => {
      await signInAnon()
      const users = () => app.mysql().from('users')
      same(pgOk(await users().select('id, name').eq('id', 1).single(), 'single() on one row', 200), { id: 1, name: 'Ann' }, 'single() on one row')
      const two = pgErr(await users().select('id').gte('age', 40).single(), 'single() on two rows', 406, 'INVALID_REQUEST')
      assert(/multiple \(or no\) rows/.test(two.message), 'single() on two rows: message', two)
      const none = await users().select('id').eq('id', 999).maybeSingle()
      assert(pgOk(none, 'maybeSingle() on no row', 200) === null, 'maybeSingle() on no row', none.data)
      same(pgOk(await users().select('name').eq('id', 3).maybeSingle(), 'maybeSingle() on one row', 200), { name: 'Zoë "Z" (admin)' }, 'maybeSingle() on one row')
      const many = pgErr(await users().select('id').gte('age', 40).maybeSingle(), 'maybeSingle() on two rows', 406, 'PGRST116') // client-made (ref 6.5)
      return `single x2 -> 406 ${two.code}; maybeSingle x2 -> 406 ${many.code} (client-side)`
    },
  ],
  [
    'mysql writes: insert one / many with .select(), upsert merge + ignore (onConflict email), update().eq().select(), delete().in()',
    async () => {
      await signInAnon()
      const users = () => app.mysql().from('users')
      same(pgOk(await users().insert({ name: 'Dee', age: 22, email: 'dee@example.com' }).select(), 'insert one', 201),
        [{ _openid: anonUid, age: 22, email: 'dee@example.com', id: 6, name: 'Dee' }], 'insert(row).select() (emulator fills _openid with the caller)')
      same(pgOk(await users().insert([{ name: 'Eve', age: 28, email: 'eve@example.com' }, { name: 'Fay', email: 'fay@example.com' }]).select('id, name, age'), 'insert many', 201),
        [{ id: 7, name: 'Eve', age: 28 }, { id: 8, name: 'Fay', age: null }], 'insert(rows).select("id, name, age")')
      // no .select(): 201 with an empty body, which the SDK's Node wrapper turns into data {} (ref 6.5)
      same(pgOk(await users().insert({ name: 'Ivy', email: 'ivy@example.com' }), 'insert without select', 201), {}, 'insert(row) without select: data')
      same(pgOk(await users().upsert({ email: 'ann@example.com', name: 'Ann B.', age: 32 }, { onConflict: 'email' }).select('id, name, age, email'), 'upsert merge', 201),
        [{ id: 1, name: 'Ann B.', age: 32, email: 'ann@example.com' }], 'upsert(..., {onConflict: "email"}) merges into id 1')
      const ign = pgOk(await users().upsert([{ email: 'ann@example.com', name: 'Ann C.' }, { email: 'gus@example.com', name: 'Gus', age: 50 }], { onConflict: 'email', ignoreDuplicates: true }).select('id, name, age, email'), 'upsert ignore', 201)
      assert(ign.length === 1 && ign[0].name === 'Gus' && ign[0].age === 50 && ign[0].id > 9, 'upsert ignoreDuplicates returns only the new row', ign)
      const gusId = ign[0].id
      same(pgOk(await users().select('name, age').eq('email', 'ann@example.com'), 'ann after ignore', 200), [{ name: 'Ann B.', age: 32 }], 'the ignored duplicate changed Ann')
      same(pgOk(await users().update({ age: 18 }).eq('name', 'Bob, Jr.').select('id, age'), 'update select', 200), [{ id: 2, age: 18 }], 'update({age: 18}).eq("name", "Bob, Jr.").select()')
      assert(pgOk(await users().update({ age: 19 }).eq('id', 2), 'update without select', 204) === null, 'update without select: data')
      same(pgOk(await users().select('age').eq('id', 2), 'bob after update', 200), [{ age: 19 }], 'Bob after update')
      assert(pgOk(await users().delete().in('id', [7, 8]), 'delete in', 204) === null, 'delete().in(): data')
      same(pgOk(await users().select('id').in('id', [7, 8]), 'after delete', 200), [], 'rows 7, 8 after delete')
      same(pgOk(await users().delete().eq('email', 'gus@example.com').select('id, name'), 'delete select', 200), [{ id: gusId, name: 'Gus' }], 'delete().eq().select()')
      same(pgOk(await users().select('id, name').order('id'), 'final rows', 200),
        [{ id: 1, name: 'Ann B.' }, { id: 2, name: 'Bob, Jr.' }, { id: 3, name: 'Zoë "Z" (admin)' }, { id: 4, name: '50% off' }, { id: 5, name: 'Carl' }, { id: 6, name: 'Dee' }, { id: 9, name: 'Ivy' }], 'table after the writes')
      return `inserted 6, 7, 8, 9; upsert merged id 1, ignored Ann and added Gus (id ${gusId}); updated id 2; deleted 7, 8, ${gusId}`
    },
  ],
  [
    'mysql errors: update / delete without filter -> 400 BadApiRequest; missing table / database -> 404; unknown column 400; duplicate 409',
    async () => {
      await signInAnon()
      const users = () => app.mysql().from('users')
      const up = pgErr(await users().update({ age: 1 }), 'update without filter', 400, 'BadApiRequest')
      assert(up.message === 'UPDATE requires a WHERE clause', 'update without filter: message', up)
      same(pgOk(await users().select('id').eq('age', 1), 'rows with age 1', 200), [], 'the unfiltered update changed rows')
      const del = pgErr(await users().delete(), 'delete without filter', 400, 'BadApiRequest')
      assert(del.message === 'DELETE requires a WHERE clause', 'delete without filter: message', del)
      const head = await users().select('*', { count: 'exact', head: true })
      assert(head.count === 7, 'row count after the refused delete', head.count)
      const nt = pgErr(await app.mysql().from('nope').select(), 'missing table', 404, 'RESOURCE_NOT_FOUND')
      const ndb = pgErr(await app.mysql({ database: 'nope_db' }).from('users').select('id'), 'missing database', 404, 'RESOURCE_NOT_FOUND')
      const col = pgErr(await users().select('id').eq('nope', 1), 'unknown column', 400, 'INVALID_PARAM')
      const dup = pgErr(await users().insert({ name: 'Ann again', email: 'ann@example.com' }), 'duplicate email', 409, 'INVALID_REQUEST')
      assert(/UNIQUE/.test(dup.message), 'duplicate email: message', dup)
      return `update -> ${up.code}; delete -> ${del.code}; nope -> ${nt.code} (${nt.message}); nope_db -> ${ndb.message}; column -> ${col.code}; duplicate -> 409`
    },
  ],
  [
    'rdb(): app.rdb() and app.rdb({schema}) read and write the same MySQL-mode tables (no X-Db-Instance; profiles only with a schema)',
    async () => {
      await signInAnon()
      const mark = (await control('GET', '/_emulator/requests')).length
      same(pgOk(await app.rdb().from('users').select('id, name').eq('id', 1), 'rdb() select', 200), [{ id: 1, name: 'Ann B.' }], 'rdb().from("users")')
      same(pgOk(await app.rdb({ schema: ENV_ID }).from('users').select('id').like('email', '%@shop.example'), 'rdb({schema}) select', 200), [{ id: 4 }], 'rdb({schema: env})')
      const ins = pgOk(await app.rdb().from('users').insert({ name: 'Hal', email: 'hal@example.com' }).select('id, name, _openid'), 'rdb() insert', 201)
      assert(ins.length === 1 && ins[0].name === 'Hal' && ins[0]._openid === anonUid && typeof ins[0].id === 'number', 'rdb() insert row', ins)
      same(pgOk(await app.rdb({ schema: ENV_ID }).from('users').delete().eq('id', ins[0].id).select('name'), 'rdb({schema}) delete', 200), [{ name: 'Hal' }], 'rdb({schema}).delete()')
      const reqs = (await control('GET', '/_emulator/requests')).slice(mark).filter((r) => String(r.path).startsWith('/v1/rdb/'))
      assert(reqs.length === 4, 'rdb requests logged', reqs.map((r) => `${r.method} ${r.path}`))
      same(reqs.map((r) => [r.method, r.operation_id, reqHeader(r, 'x-db-instance'), reqHeader(r, 'accept-profile'), reqHeader(r, 'content-profile')]), [
        ['GET', 'query_records', undefined, undefined, undefined],
        ['GET', 'query_records', undefined, ENV_ID, undefined],
        ['POST', 'insert_records', undefined, undefined, undefined],
        ['DELETE', 'delete_records', undefined, undefined, ENV_ID],
      ], 'rdb requests: method, operation, X-Db-Instance, Accept-Profile, Content-Profile')
      return `rdb() and rdb({schema}) hit the default database; inserted and deleted id ${ins[0].id}`
    },
  ],
  // -------------------------------------------------------------------------------------------------------
  // Data models (reference section 5): the seeded `todo` model (title string required, done boolean, priority
  // number; relation `comments` -> model `comment` by `todo_id`).
  [
    'models: app.models.todo.create / createMany / get (SDK unwraps data.record) -> system fields of the caller',
    async () => {
      await signInAnon()
      const todo = app.models.todo
      const c = await todo.create({ data: { title: 'Write compat tests', done: false, priority: 2 } })
      assert(typeof c?.data?.id === 'string' && /^[0-9a-f]{24}$/.test(c.data.id) && c.requestId, 'create -> {data: {id}, requestId}', c)
      modelIds.main = c.data.id
      const cm = await todo.createMany({ data: [{ title: 'Buy milk', done: true, priority: 1 }, { title: 'Review PR', done: false, priority: 3 }, { title: 'buy MILK again', done: false, priority: 1 }] })
      assert(Array.isArray(cm?.data?.idList) && cm.data.idList.length === 3 && new Set(cm.data.idList).size === 3, 'createMany -> {data: {idList}}', cm)
      ;[modelIds.milk, modelIds.review, modelIds.milk2] = cm.data.idList
      const g = await todo.get({ filter: { where: { _id: { $eq: modelIds.main } } } })
      const rec = g?.data
      assert(rec && !('record' in rec), 'get: the SDK did not unwrap data.record', g)
      same({ _id: rec._id, title: rec.title, done: rec.done, priority: rec.priority }, { _id: modelIds.main, title: 'Write compat tests', done: false, priority: 2 }, 'get: record fields')
      assert(rec._openid === anonUid && rec.owner === anonUid && rec.createBy === anonUid && rec.updateBy === anonUid, 'get: owner / createBy / _openid of the caller', rec)
      assert(Number.isInteger(rec.createdAt) && rec.createdAt === rec.updatedAt && Math.abs(rec.createdAt - Date.now()) < 60_000, 'get: createdAt / updatedAt', rec)
      const g2 = await todo.get({ filter: { where: { _id: { $eq: modelIds.milk } } }, select: { title: true, done: true } })
      same(g2?.data, { _id: modelIds.milk, title: 'Buy milk', done: true }, 'get with select')
      const none = await todo.get({ filter: { where: { _id: { $eq: 'no-such-id' } } } })
      same(none?.data, { record: null }, 'get of a missing record (record null is not unwrapped)')
      return `created ${modelIds.main} + ${cm.data.idList.length}; get -> owner ${rec.owner}`
    },
  ],
  [
    'models: list with where ($and/$or/$gte/$search_ci/$in), orderBy, pageSize/pageNumber, getCount, select, relation select',
    async () => {
      await signInAnon()
      const todo = app.models.todo
      const titles = (r) => r.data.records.map((x) => x.title)
      const l1 = await todo.list({ filter: { where: { $and: [{ priority: { $gte: 2 } }, { $or: [{ done: { $eq: false } }, { title: { $search_ci: 'milk' } }] }] } }, getCount: true })
      same([titles(l1), l1.data.total], [['Write compat tests', 'Review PR'], 2], 'list $and/$or/$gte/$search_ci')
      const l2 = await todo.list({ filter: { where: { title: { $search_ci: 'MILK' } } }, select: { title: true } })
      same(l2.data.records, [{ _id: modelIds.milk, title: 'Buy milk' }, { _id: modelIds.milk2, title: 'buy MILK again' }], 'list $search_ci with select')
      assert(!('total' in l2.data), 'total without getCount', l2.data)
      const l3 = await todo.list({ filter: { where: { priority: { $in: [1, 3] } } }, orderBy: [{ priority: 'desc' }], pageSize: 2, pageNumber: 1, getCount: true })
      same([titles(l3), l3.data.total], [['Review PR', 'Buy milk'], 3], 'list $in, orderBy desc, page 1 of 2')
      const l4 = await todo.list({ filter: { where: { priority: { $in: [1, 3] } } }, orderBy: [{ priority: 'desc' }], pageSize: 2, pageNumber: 2, getCount: true })
      same([titles(l4), l4.data.total], [['buy MILK again'], 3], 'list page 2')
      const l5 = await todo.list({ orderBy: [{ priority: 'asc' }, { title: 'desc' }], getCount: true })
      same([titles(l5), l5.data.total], [['buy MILK again', 'Buy milk', 'Write compat tests', 'Review PR'], 4], 'list orderBy two fields, no filter')
      const cc = await app.models.comment.create({ data: { todo_id: modelIds.main, text: 'looks good' } })
      assert(typeof cc?.data?.id === 'string', 'comment create', cc)
      const l6 = await todo.list({ filter: { where: { _id: { $eq: modelIds.main } } }, select: { title: true, comments: { text: true } } })
      same(l6.data.records, [{ _id: modelIds.main, title: 'Write compat tests', comments: [{ _id: cc.data.id, text: 'looks good' }] }], 'list with a relation select')
      const l7 = await todo.list({ filter: { where: {}, relateWhere: { comments: { where: { text: { $search: 'good' } } } } }, select: { title: true } })
      same(l7.data.records, [{ _id: modelIds.main, title: 'Write compat tests' }], 'list with relateWhere')
      assert(typeof l1.requestId === 'string' && l1.requestId, 'list requestId', l1)
      return `7 lists, totals ${l1.data.total}/${l3.data.total}/${l5.data.total}; relation comments embedded`
    },
  ],
  [
    'models: update, updateMany, upsert (update and create), delete, deleteMany -> counts and the records after',
    async () => {
      await signInAnon()
      const todo = app.models.todo
      const byId = (id) => ({ where: { _id: { $eq: id } } })
      const u = await todo.update({ filter: byId(modelIds.main), data: { done: true } })
      same(u?.data, { count: 1 }, 'update')
      const after = (await todo.get({ filter: byId(modelIds.main) })).data
      assert(after.done === true && after.title === 'Write compat tests' && after.updatedAt >= after.createdAt, 'record after update', after)
      const um = await todo.updateMany({ filter: { where: { priority: { $eq: 1 } } }, data: { priority: 5 } })
      assert(um?.data?.count === 2 && isDeepStrictEqual([...um.data.legalIdList].sort(), [modelIds.milk, modelIds.milk2].sort()) && isDeepStrictEqual(um.data.illegalIdList, []), 'updateMany', um)
      const up1 = await todo.upsert({ filter: { where: { title: { $eq: 'Review PR' } } }, create: { title: 'Review PR', priority: 9 }, update: { priority: 4 } })
      same(up1?.data, { count: 1, id: '' }, 'upsert of an existing record (update)')
      same((await todo.get({ filter: byId(modelIds.review) })).data.priority, 4, 'Review PR after upsert')
      const up2 = await todo.upsert({ filter: { where: { title: { $eq: 'Ship it' } } }, create: { title: 'Ship it', priority: 8 }, update: { priority: 0 } })
      assert(up2?.data?.count === 0 && /^[0-9a-f]{24}$/.test(up2.data.id), 'upsert of a new record (create)', up2)
      same((await todo.get({ filter: byId(up2.data.id) })).data.priority, 8, 'Ship it after upsert')
      const d = await todo.delete({ filter: byId(up2.data.id) })
      same(d?.data, { count: 1 }, 'delete')
      const dm = await todo.deleteMany({ filter: { where: { priority: { $eq: 5 } } } })
      assert(dm?.data?.count === 2 && isDeepStrictEqual([...dm.data.legalIdList].sort(), [modelIds.milk, modelIds.milk2].sort()), 'deleteMany', dm)
      const l = await todo.list({ orderBy: [{ priority: 'asc' }], getCount: true })
      same([l.data.records.map((r) => [r.title, r.priority, r.done]), l.data.total], [[['Write compat tests', 2, true], ['Review PR', 4, false]], 2], 'records after the writes')
      const d0 = await todo.delete({ filter: byId('no-such-id') })
      same(d0?.data, { count: 0 }, 'delete of nothing')
      return `update 1, updateMany 2, upsert update + create ${up2.data.id}, delete 1, deleteMany 2 -> 2 left`
    },
  ],
  [
    'models errors: unknown model -> thrown, originError.code DATASOURCE_NOT_EXIST; wrong type / missing required -> INVALID_PARAMETER',
    async () => {
      await signInAnon()
      const e = await throws(app.models.nope.list({}), 'models.nope.list')
      assert(e.originError?.code === 'DATASOURCE_NOT_EXIST' && e.originError.requestId, 'unknown model: originError', { message: e.message, code: e.code, originError: e.originError && { code: e.originError.code, requestId: e.originError.requestId } })
      assert(e.code === undefined && /【错误码】DATASOURCE_NOT_EXIST/.test(e.message) && /models\.nope\.list/.test(e.message), 'unknown model: the thrown error (ref 5.2: no code, message embeds it)', { message: e.message, code: e.code })
      const t = await throws(app.models.todo.create({ data: { title: 42 } }), 'create with a number title')
      assert(t.originError?.code === 'INVALID_PARAMETER' && /title/.test(t.message), 'wrong type', { message: t.message, code: t.originError?.code })
      const r = await throws(app.models.todo.create({ data: { done: true } }), 'create without the required title')
      assert(r.originError?.code === 'INVALID_PARAMETER' && /title is required/.test(r.message), 'missing required field', { message: r.message, code: r.originError?.code })
      const ns = await throws(Promise.resolve().then(() => app.models.todo.getById({ id: 'x' })), 'models.todo.getById')
      assert(ns.originError?.code === 'NotSupported' || ns.code === 'NotSupported', 'getById (not a JS SDK method) -> NotSupported', { message: ns.message, code: ns.code, originError: ns.originError?.code })
      const total = (await app.models.todo.list({ getCount: true })).data.total
      assert(total === 2, 'the failed creates wrote records', total)
      return `nope -> ${e.originError.code}; title 42 -> ${t.originError.code}; no title -> ${r.originError.code}; getById -> NotSupported (client-side)`
    },
  ],
  [
    'models envType pre: list({envType: "pre"}) -> /v1/model/pre/todo/list, sees only the pre data (seeded record + a pre create)',
    async () => {
      await signInAnon()
      const todo = app.models.todo
      const exMark = (await control('GET', '/_emulator/exchanges')).length
      const pre = await todo.list({ envType: 'pre', getCount: true })
      same([pre.data.records.map((r) => [r._id, r.title, r.priority]), pre.data.total], [[['pre-todo-1', 'only in pre', 7]], 1], 'pre list (the seeded record only)')
      const ex = (await control('GET', '/_emulator/exchanges')).slice(exMark).find((x) => x.operation_id === 'model_list')
      assert(ex?.path === '/v1/model/pre/todo/list' && ex.request_body?.envType === 'pre', 'the pre list request', ex && { path: ex.path, body: ex.request_body })
      const pc = await todo.create({ envType: 'pre', data: { title: 'pre only 2', priority: 1 } })
      assert(typeof pc?.data?.id === 'string', 'create in pre', pc)
      const pre2 = await todo.list({ envType: 'pre', getCount: true, orderBy: [{ priority: 'asc' }] })
      same([pre2.data.records.map((r) => r.title), pre2.data.total], [['pre only 2', 'only in pre'], 2], 'pre list after the create')
      const prod = await todo.list({ getCount: true, filter: { where: { title: { $search: 'pre' } } } })
      same([prod.data.records, prod.data.total], [[], 0], 'prod sees pre records')
      const prodGet = await todo.get({ filter: { where: { _id: { $eq: pc.data.id } } } })
      same(prodGet.data, { record: null }, 'prod get of the pre record')
      return `pre: ${pre2.data.total} records; prod: ${(await todo.list({ getCount: true })).data.total}`
    },
  ],
  // -------------------------------------------------------------------------------------------------------
  [
    'wire (data): storage, mysql and model operation ids logged; every SDK request reached the emulator with the SDK headers; nothing left 127.0.0.1',
    async () => {
      assert(dataMark, 'the storage flow did not run')
      const all = (await control('GET', '/_emulator/requests')).slice(dataMark.emu)
      const reqs = all.filter((r) => reqHeader(r, HARNESS_HEADER) === undefined)
      const sent = sdkRequests.slice(dataMark.sdk)
      assert(reqs.length === sent.length, 'the emulator saw a different number of requests than the SDK sent', { emulator: reqs.length, sdk: sent.length })
      same(reqs.map((r) => `${r.method} ${r.path}`), sent.map((s) => `${s.method} ${new URL(s.url).pathname}`), 'the requests in order (method, path)')
      const ops = new Set(reqs.map((r) => r.operation_id))
      const want = ['get_objects_upload_info', 'get_objects_download_info', 'copy_objects', 'delete_objects', 'cos_put_object', 'cos_get_object',
        'query_records', 'count_records', 'insert_records', 'update_records', 'delete_records',
        'model_create', 'model_create_many', 'model_get', 'model_list', 'model_update', 'model_update_many', 'model_upsert', 'model_delete', 'model_delete_many']
      const missing = want.filter((o) => !ops.has(o))
      assert(missing.length === 0, 'operation ids not logged', missing)
      const version = `@cloudbase/js-sdk/${SDK_VERSION}`
      const bad = []
      const check = (r, cond, why) => {
        if (!cond) bad.push(`${r.method} ${r.path} (${r.operation_id}): ${why} ${safeJson(r.headers)}`)
      }
      for (const r of reqs) {
        const p = String(r.path)
        if (p.startsWith('/v1/')) {
          check(r, reqHeader(r, 'x-sdk-version') === version, 'X-SDK-Version')
          check(r, reqHeader(r, 'accept-language') === 'zh-CN', 'Accept-Language')
          check(r, reqHeader(r, 'x-device-id') === undefined, 'x-device-id on a service call (ref 1.2: not sent)')
        }
        if (p.startsWith('/v1/storages/')) {
          check(r, UUID_SHAPE.test(reqHeader(r, 'x-request-id') ?? ''), 'X-Request-Id')
          check(r, reqHeader(r, 'content-type') === 'application/json; charset=utf-8', 'Content-Type')
        } else if (p.startsWith('/v1/model/')) {
          check(r, reqHeader(r, 'content-type') === 'application/json', 'Content-Type')
          check(r, reqHeader(r, 'x-request-id') === undefined, 'X-Request-Id (ref 1.4: not sent by models)')
        } else if (p.startsWith('/v1/rdb/rest/')) {
          const write = !['GET', 'HEAD'].includes(r.method)
          check(r, reqHeader(r, 'content-type') === (write ? 'application/json, application/json' : 'application/json'), 'Content-Type (ref 6.1)')
        } else if (r.operation_id === 'cos_put_object') {
          check(r, reqHeader(r, 'x-sdk-version') === version && reqHeader(r, 'x-cos-meta-fileid') && reqHeader(r, 'content-type') === 'text/plain', 'upload PUT headers')
        } else if (r.operation_id === 'cos_get_object') {
          check(r, reqHeader(r, 'x-sdk-version') === undefined, 'download GET carries SDK headers (ref 7.6: none)')
        } else {
          check(r, p.startsWith('/auth/v1/'), 'unexpected path')
        }
      }
      assert(bad.length === 0, 'requests without the expected SDK headers', bad.slice(0, 5))
      const mysqlReqs = reqs.filter((r) => String(r.path).startsWith('/v1/rdb/rest/') && reqHeader(r, 'x-db-instance') !== undefined)
      assert(mysqlReqs.length > 0 && mysqlReqs.every((r) => reqHeader(r, 'x-db-instance') === 'default' && [ENV_ID, 'nope_db'].includes(reqHeader(r, 'accept-profile')) && reqHeader(r, 'accept-profile') === reqHeader(r, 'content-profile')),
        'app.mysql() requests: X-Db-Instance default, Accept-Profile = Content-Profile = database', mysqlReqs.slice(0, 2).map((r) => r.headers))
      const sdkNonLoopback = blocked.filter((b) => !b.url.startsWith('http://metadata.tencentyun.com/'))
      assert(sdkNonLoopback.length === 0, 'the SDK tried to reach other hosts', sdkNonLoopback)
      const count = (pre) => reqs.filter((r) => String(r.path).startsWith(pre)).length
      return `${reqs.length} SDK requests (${count('/v1/storages/')} storage, ${count('/_cos/')} object, ${count('/v1/rdb/')} rdb, ${count('/v1/model/')} model, ${count('/auth/v1/')} auth); `
        + `${ops.size} operation ids; refused metadata probes so far: ${blocked.length}`
    },
  ],
  [
    'models / mysql with no session: the SDK asks POST /auth/v1/token/clientCredential first, then reads as a guest',
    async () => {
      ok(await auth.signOut(), 'signOut')
      const exMark = (await control('GET', '/_emulator/exchanges')).length
      const l = await app.models.todo.list({ getCount: true })
      assert(l?.data?.total === 2, 'models list without a session', l)
      const modelResult = `list total ${l.data.total}`
      const r = await app.mysql().from('users').select('id').eq('id', 1)
      assert(!r.error, 'mysql without a session', r)
      same(r.data, [{ id: 1 }], 'mysql without a session')
      const mysqlResult = `${r.status} ${safeJson(r.data)}`
      const ex = (await control('GET', '/_emulator/exchanges')).slice(exMark)
      const cc = ex.filter((x) => x.path === '/auth/v1/token/clientCredential')
      assert(cc.length === 2 && cc.every((x) => isDeepStrictEqual(x.request_body, { grant_type: 'client_credentials' })), 'the SDK did not ask for a client-credential token before each call (ref 1.3)', ex.map((x) => `${x.method} ${x.path} -> ${x.status}`))
      assert(cc.every((x) => x.status === 200 && x.response_body?.scope === 'guest' && !('refresh_token' in x.response_body)), 'a guest token for each', cc.map((x) => `${x.status} ${x.response_body?.scope}`))
      return `clientCredential -> ${cc[0].status}; models: ${modelResult}; mysql: ${mysqlResult}`
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
