// The MySQL RESTful flows (PostgREST dialect, reference section 6): `app.mysql()` and `app.rdb()` on the seeded
// `users` table, signed in anonymously.

import { assert, pgErr, pgOk, same } from '../lib/checks.mjs'
import { ENV_ID } from '../lib/config.mjs'
import { app, control } from '../lib/harness.mjs'
import { anonUid, reqHeader, signInAnon } from './common.mjs'

export const mysqlFlows = [
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
]
