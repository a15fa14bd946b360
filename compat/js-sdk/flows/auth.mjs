// The auth flows: anonymous, email sign-up, email OTP, password, session, claims, profile, identities, password
// reset, sign-out, and the wire check of their requests.

import { assert, ok } from '../lib/checks.mjs'
import { HARNESS_HEADER } from '../lib/config.mjs'
import { blocked, realFetch, safeJson, sdkRequests } from '../lib/guard.mjs'
import { EMU, SDK_VERSION, auth, codeFor, control, events, waitEvent } from '../lib/harness.mjs'

const USER_EMAIL = 'ada@example.com'
const USER_PASSWORD = 'correct-horse-1'
const USER_NAME = 'ada_lovelace'
const NEW_EMAIL = 'grace@example.com'
const NEW_PASSWORD = 'hopper-cobol-59'
const RESET_PASSWORD = 'new-battery-staple-2'

let newUserId = ''

async function signInAda() {
  const r = await auth.signInWithPassword({ email: USER_EMAIL, password: USER_PASSWORD })
  ok(r, 'signInWithPassword')
  return r.data
}

export const authFlows = [
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
]
