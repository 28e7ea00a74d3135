// A PLC directory stand-in for tests: an in-memory store of did:plc
// operation logs with the read and write endpoints the PDS and identity
// resolvers use (GET /<did>, /<did>/data, /<did>/log, /<did>/log/last,
// /<did>/log/audit, POST /<did>, GET /_health). Every operation is checked
// with @did-plc/lib (signatures, genesis hash, prev links) before it is
// accepted. The real directory keeps its data in Postgres; this one
// forgets everything when the process ends.
import http from 'node:http'
import plc from '@did-plc/lib'

const maxBody = 64 * 1024

export async function startPLC({ host = '127.0.0.1', port = 0 } = {}) {
  const logs = new Map() // did -> [{ operation, createdAt }]

  const send = (res, status, body, type = 'application/json') => {
    const data = JSON.stringify(body)
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(data) })
    res.end(data)
  }
  const fail = (res, status, message) => send(res, status, { message })

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = []
      let size = 0
      req.on('data', (c) => {
        size += c.length
        if (size > maxBody) {
          reject(new Error('operation too large'))
          req.destroy()
          return
        }
        chunks.push(c)
      })
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      req.on('error', reject)
    })

  const handle = async (req, res) => {
    const path = new URL(req.url, 'http://plc').pathname
    if (path === '/_health') return send(res, 200, { version: 'dpop-plc-stand-in' })
    const parts = path.split('/').slice(1).map(decodeURIComponent)
    const did = parts[0]
    if (!did || !did.startsWith('did:plc:')) return fail(res, 404, 'not found')
    const rest = parts.slice(1).join('/')
    const ops = logs.get(did)

    if (req.method === 'POST' && rest === '') {
      let op
      try {
        op = JSON.parse(await readBody(req))
      } catch (err) {
        return fail(res, 400, `invalid operation: ${err.message}`)
      }
      try {
        const next = [...(ops ?? []).map((o) => o.operation), op]
        if (!ops && (await plc.didForCreateOp(op)) !== did) {
          return fail(res, 400, 'genesis operation does not hash to the DID')
        }
        await plc.validateOperationLog(did, next)
      } catch (err) {
        return fail(res, 400, `invalid operation: ${err.message}`)
      }
      const entry = { operation: op, createdAt: new Date().toISOString() }
      if (ops) ops.push(entry)
      else logs.set(did, [entry])
      return send(res, 200, {})
    }
    if (req.method !== 'GET') return fail(res, 405, 'method not allowed')
    if (!ops) return fail(res, 404, `DID not registered: ${did}`)
    const operations = ops.map((o) => o.operation)
    const data = await plc.validateOperationLog(did, operations)
    switch (rest) {
      case '':
        if (!data) return fail(res, 410, `DID not available: ${did}`)
        return send(res, 200, plc.formatDidDoc(data), 'application/did+ld+json')
      case 'data':
        if (!data) return fail(res, 410, `DID not available: ${did}`)
        return send(res, 200, data)
      case 'log':
        return send(res, 200, operations)
      case 'log/last':
        return send(res, 200, operations[operations.length - 1])
      case 'log/audit':
        return send(res, 200, ops.map((o) => ({ did, operation: o.operation, nullified: false, createdAt: o.createdAt })))
      default:
        return fail(res, 404, 'not found')
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) fail(res, 500, err.message)
      else res.destroy()
    })
  })
  server.listen(port, host)
  await new Promise((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  return { server, port: server.address().port, logs }
}
