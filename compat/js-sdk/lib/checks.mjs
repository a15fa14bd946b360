// The checks the flows make: a failed one throws a `Check`, which the harness prints as the flow's FAIL line.

import { isDeepStrictEqual } from 'node:util'

import { safeJson } from './guard.mjs'

export class Check extends Error {}
export function assert(cond, msg, detail) {
  if (!cond) throw new Check(detail === undefined ? msg : `${msg}: ${safeJson(detail)}`)
}
export function ok(res, what) {
  const e = res?.error
  assert(res && !e, `${what} returned an error`, e && { code: e.code, status: e.status, errorCode: e.errorCode, message: e.message, category: e.category, requestId: e.requestId })
  return res.data
}
export function same(actual, expected, what) {
  assert(isDeepStrictEqual(actual, expected), what, { expected, got: actual })
}
/** A postgrest-js result `{data, error, count, status}` that must be a success with this status. */
export function pgOk(r, what, status) {
  assert(r && r.error === null, `${what} returned an error`, r && { error: r.error, status: r.status })
  assert(r.status === status, `${what}: HTTP status`, { expected: status, got: r.status })
  return r.data
}
/** A postgrest-js result that must be an error with this status and code. */
export function pgErr(r, what, status, code) {
  assert(r && r.error && r.data === null, `${what} did not fail`, r && { data: r.data, error: r.error, status: r.status })
  assert(r.status === status && r.error.code === code, `${what}: status / code`, { expected: { status, code }, got: { status: r.status, error: r.error } })
  return r.error
}
export async function throws(promise, what) {
  try {
    const v = await promise
    throw new Check(`${what} did not throw: ${safeJson(v)}`)
  } catch (e) {
    if (e instanceof Check) throw e
    return e
  }
}
