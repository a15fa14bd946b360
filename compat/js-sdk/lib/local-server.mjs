// The local server that holds the function, cloud run and API logic: the emulator binary forwards to it
// (`--function sum=...`, `--cloudrun svc=...`, `--api label=...`), so what the SDK gets back is real logic.

import http from 'node:http'

export let LOCAL = '' // http://127.0.0.1:PORT of the local server
export let localServer = null
export const localSeen = [] // [{method, url, headers}] what the local server received

export function startLocalServer() {
  return new Promise((resolve, reject) => {
    localServer = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        localSeen.push({ method: req.method, url: req.url, headers: req.headers })
        const caller = req.headers['x-cloudbase-caller'] ?? null
        const userId = req.headers['x-cloudbase-user-id'] ?? null
        const json = (status, v) => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(v))
        }
        if (req.method === 'POST' && req.url === '/fn/sum') {
          let event = {}
          try {
            event = JSON.parse(body || '{}')
          } catch {}
          return json(200, { sum: Number(event.a ?? 0) + Number(event.b ?? 0), caller, userId, contentType: req.headers['content-type'] })
        }
        if (req.method === 'POST' && req.url === '/fn/hello') {
          res.writeHead(200, { 'content-type': 'text/plain' })
          return res.end('Hello fn')
        }
        if (req.method === 'POST' && req.url === '/fn/order') {
          return json(200, { code: 'ORDER_NOT_FOUND', message: 'no such order', data: null })
        }
        if (req.url.startsWith('/svc') || req.url.startsWith('/api')) {
          return json(200, { method: req.method, url: req.url, body, caller, userId, hasAuthorization: 'authorization' in req.headers })
        }
        json(404, { error: 'local server: no route', url: req.url })
      })
    })
    localServer.on('error', reject)
    localServer.listen(0, '127.0.0.1', () => {
      LOCAL = `http://127.0.0.1:${localServer.address().port}`
      resolve()
    })
  })
}

export function forwardFlags() {
  return [
    '--function', `sum=${LOCAL}/fn/sum`,
    '--function', `hello=${LOCAL}/fn/hello`,
    '--function', `order=${LOCAL}/fn/order`,
    '--cloudrun', `svc=${LOCAL}/svc`,
    '--api', `label=${LOCAL}/api`,
  ]
}
