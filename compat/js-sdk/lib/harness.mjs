// The harness: the emulator process, the control calls to it, the SDK's app and auth objects, and the run of the
// flows with its output (one PASS/FAIL line per flow, then `N passed, M failed`) and exit code.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import process from 'node:process'

import { Check } from './checks.mjs'
import { ENV_ID, FLOW_TIMEOUT_MS, HERE, OVERALL_TIMEOUT_MS, POLL_TIMEOUT_MS, SEED_FILE, START_TIMEOUT_MS, VERBOSE } from './config.mjs'
import { out, realFetch, resetSdkLog, safeJson, sdkLog, sdkRequests } from './guard.mjs'
import { LOCAL, forwardFlags, localServer, startLocalServer } from './local-server.mjs'

let flows = [] // the flows of this run (set by `run`)

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
// Control calls to the emulator; the SDK's auth events.
export let EMU = '' // emulator origin
export let SDK_VERSION = '' // installed @cloudbase/js-sdk version

export async function control(method, p, body) {
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
export async function codeFor(target) {
  const entry = await waitFor(`a code for ${target} in /_emulator/outbox`, async () => {
    const box = await control('GET', '/_emulator/outbox')
    return [...box].reverse().find((e) => String(e.target).toLowerCase() === target.toLowerCase())
  })
  return entry
}

export const events = [] // [{event, session, info}]
export const notes = [] // observations that are not failures (printed as NOTE lines)
export async function waitEvent(name, fromIndex) {
  return waitFor(`auth event ${name}`, async () => events.slice(fromIndex).find((e) => e.event === name), POLL_TIMEOUT_MS)
}

// The SDK: its app and auth module (set once the emulator is up).
export let auth
export let app

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

/** Runs the flows in order and prints one PASS/FAIL line each, then `N passed, M failed`; sets the exit code. */
export function run(list) {
  flows = list
  return main()
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
    resetSdkLog()
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
