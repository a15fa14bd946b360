// The flows of the services the emulator forwards to the local server: cloud functions, cloud run, APIs, and the
// wire check of their requests.

import { assert, ok } from '../lib/checks.mjs'
import { app, auth, control } from '../lib/harness.mjs'
import { localSeen } from '../lib/local-server.mjs'

export const serviceFlows = [
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
