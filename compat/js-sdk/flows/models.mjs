// The data model flows (reference section 5), signed in anonymously.

import { isDeepStrictEqual } from 'node:util'

import { assert, same, throws } from '../lib/checks.mjs'
import { app, control } from '../lib/harness.mjs'
import { anonUid, signInAnon } from './common.mjs'

const modelIds = {} // the todo records the model flows create

export const modelFlows = [
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
]
