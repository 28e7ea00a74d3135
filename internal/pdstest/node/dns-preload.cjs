// Loaded into the PDS process with NODE_OPTIONS=--require: every host name
// under .internal (a name reserved for private use) resolves to 127.0.0.1.
// A confidential client's metadata document must come from an https URL
// with a real-looking host name (the PDS refuses IP addresses and the
// .test, .local, .localhost, .invalid and .example names), so the tests
// serve it as https://<name>.internal:<port>/... on loopback, with a
// certificate from a test CA given by NODE_EXTRA_CA_CERTS.
'use strict'
const dns = require('node:dns')

const internal = (host) => typeof host === 'string' && /^[a-z0-9.-]+\.internal\.?$/i.test(host)

const answer = (options) => {
  const all = typeof options === 'object' && options !== null && options.all
  return all ? [{ address: '127.0.0.1', family: 4 }] : { address: '127.0.0.1', family: 4 }
}

const lookup = dns.lookup
dns.lookup = function (host, options, callback) {
  if (typeof options === 'function') {
    callback = options
    options = {}
  }
  if (!internal(host)) return lookup.call(this, host, options, callback)
  const a = answer(options)
  process.nextTick(() => (Array.isArray(a) ? callback(null, a) : callback(null, a.address, a.family)))
  return {}
}

const promisesLookup = dns.promises.lookup
dns.promises.lookup = function (host, options) {
  if (!internal(host)) return promisesLookup.call(this, host, options)
  return Promise.resolve(answer(options))
}
