// Starts the reference AT Protocol PDS (@atproto/pds) and a PLC directory
// stand-in in this process, both listening on 127.0.0.1 only, and prints one
// JSON line on stdout when they are ready:
//
//   {"pds":"http://localhost:<port>","plc":"http://localhost:<port>"}
//
// The PDS's own start listens on every interface, so it is created from its
// API and served by a server this script binds to 127.0.0.1. Its issuer is
// http://localhost:<port> (PDS_HOSTNAME=localhost, dev mode). The port is
// chosen by the kernel before the PDS is configured, so no port is guessed.
//
// Usage: node pds.mjs <data directory>
// The process runs until it receives SIGTERM or SIGINT, or its stdin closes
// (so it never outlives the test that started it).
import http from 'node:http'
import crypto from 'node:crypto'
import path from 'node:path'
import fs from 'node:fs'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'
import { startPLC } from './plc.mjs'

const dataDir = process.argv[2]
if (!dataDir) {
  console.error('usage: node pds.mjs <data directory>')
  process.exit(2)
}
fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })

const plc = await startPLC()

const server = http.createServer()
server.keepAliveTimeout = 90_000
server.listen(0, '127.0.0.1')
await new Promise((resolve, reject) => {
  server.once('listening', resolve)
  server.once('error', reject)
})
const port = server.address().port

// secp256k1 accepts almost every 32-byte string as a private key; redraw in
// the astronomically unlikely case that this one is out of range.
const k256Hex = () => crypto.randomBytes(32).toString('hex')

Object.assign(process.env, {
  PDS_HOSTNAME: 'localhost',
  PDS_PORT: String(port),
  PDS_DEV_MODE: 'true',
  PDS_INVITE_REQUIRED: 'false',
  PDS_DATA_DIRECTORY: dataDir,
  PDS_BLOBSTORE_DISK_LOCATION: path.join(dataDir, 'blobs'),
  PDS_JWT_SECRET: crypto.randomBytes(16).toString('hex'),
  PDS_ADMIN_PASSWORD: process.env.PDS_ADMIN_PASSWORD || 'admin-pass',
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: k256Hex(),
  PDS_DID_PLC_URL: `http://localhost:${plc.port}`,
  PDS_CRAWLERS: '',
})

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.ctx.sequencer.start()
server.on('request', pds.app)

let stopping = false
const stop = async (code) => {
  if (stopping) return
  stopping = true
  server.closeAllConnections()
  server.close()
  plc.server.closeAllConnections()
  plc.server.close()
  try {
    await pds.ctx.destroy()
  } finally {
    process.exit(code)
  }
}
process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
process.stdin.on('end', () => stop(0))
process.stdin.on('error', () => stop(0))
process.stdin.resume()

process.stdout.write(
  JSON.stringify({ pds: `http://localhost:${port}`, plc: `http://localhost:${plc.port}` }) + '\n',
)
