// The flows over all the data services: the wire check of the storage, MySQL and model flows' requests, and
// models / MySQL reads with no session.

import { isDeepStrictEqual } from 'node:util'

import { assert, ok, same } from '../lib/checks.mjs'
import { ENV_ID, HARNESS_HEADER } from '../lib/config.mjs'
import { blocked, safeJson, sdkRequests } from '../lib/guard.mjs'
import { SDK_VERSION, app, auth, control } from '../lib/harness.mjs'
import { UUID_SHAPE, reqHeader } from './common.mjs'
import { dataMark } from './storage.mjs'

export const dataFlows = [
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
