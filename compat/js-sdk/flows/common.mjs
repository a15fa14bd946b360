// Helpers of the storage, MySQL and data model flows: the SDK's request-id shape, a header of a logged request,
// and the anonymous sign-in they start with (with the uid it gave).

import { ok } from '../lib/checks.mjs'
import { auth } from '../lib/harness.mjs'

export const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/ // the SDK's request ids (ref 1.4)
export const reqHeader = (r, k) => {
  const h = r.headers || {}
  const hit = Object.keys(h).find((x) => x.toLowerCase() === k)
  return hit === undefined ? undefined : h[hit]
}
export let anonUid = ''
export async function signInAnon() {
  const a = ok(await auth.signInAnonymously(), 'signInAnonymously')
  anonUid = a.user.id
  return a
}
