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
//
// The parts: lib/guard.mjs (console capture, environment, network guard), lib/harness.mjs (the emulator process,
// control calls, the run and its output), lib/checks.mjs, lib/local-server.mjs, lib/config.mjs; the flows, in the
// order they run, in flows/auth.mjs, services.mjs, storage.mjs, mysql.mjs, models.mjs and data.mjs.

import { authFlows } from './flows/auth.mjs'
import { dataFlows } from './flows/data.mjs'
import { modelFlows } from './flows/models.mjs'
import { mysqlFlows } from './flows/mysql.mjs'
import { serviceFlows } from './flows/services.mjs'
import { storageFlows } from './flows/storage.mjs'
import { run } from './lib/harness.mjs'

// The flows run in this order: later flows build on the state earlier ones leave.
run([...authFlows, ...serviceFlows, ...storageFlows, ...mysqlFlows, ...modelFlows, ...dataFlows])
