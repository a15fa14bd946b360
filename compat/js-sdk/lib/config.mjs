// The harness's settings: the folder of run.mjs, the env id, the time limits, VERBOSE, the marker of the harness's own
// calls to the emulator, the seed file.

import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

export const HERE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..') // compat/js-sdk, where run.mjs is
export const ENV_ID = 'emulator-env'
export const OVERALL_TIMEOUT_MS = 120_000
export const FLOW_TIMEOUT_MS = 15_000
export const START_TIMEOUT_MS = 15_000
export const POLL_TIMEOUT_MS = 5_000
export const VERBOSE = !!process.env.VERBOSE
export const HARNESS_HEADER = 'x-compat-harness' // marks the harness's own direct calls to the emulator (not the SDK's)
export const SEED_FILE = path.join(HERE, 'seed-data.json') // --seed-data: the MySQL `users` table, the `todo` / `comment` models
