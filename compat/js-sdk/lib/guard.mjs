// What the test process changes around the SDK, before it is loaded: its console output is captured, the
// environment variables its Node adapter reads are removed, and every request is guarded (loopback only).

import http from 'node:http'
import https from 'node:https'
import process from 'node:process'

import { VERBOSE } from './config.mjs'

// ---------------------------------------------------------------------------------------------------------
// Output. The SDK logs a lot (hints, warnings); its console output is captured and shown only for a failing
// flow (or always with VERBOSE=1). Our own lines go straight to stdout.
export const out = (line) => process.stdout.write(`${line}\n`)
export let sdkLog = []
/** A new, empty capture of the SDK's console output (at the start of each flow). */
export function resetSdkLog() {
  sdkLog = []
}
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const orig = console[level].bind(console)
  console[level] = (...args) => {
    const text = args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ')
    sdkLog.push(`[sdk console.${level}] ${text}`)
    if (VERBOSE) orig(`[sdk console.${level}]`, ...args)
  }
}
export function safeJson(v) {
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
export const realFetch = globalThis.fetch.bind(globalThis)
export const blocked = [] // [{via, url}]
export const sdkRequests = [] // [{method, url}] loopback requests made by the SDK
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
