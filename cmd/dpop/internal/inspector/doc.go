// Package inspector is the live inspector page of "dpop serve": it records
// every exchange the dpoptest authorization and resource servers handle
// (through dpoptest's Observe hook, and the refusals' evidence through its
// Logger), decodes the DPoP proof (RFC 9449 §4.2) and the access token
// (RFC 9068) of each, and serves them on loopback as a self-contained HTML
// page that lists them as they happen, draws the flow as a sequence
// diagram, and checks a pasted proof with package inspect. WriteHTML
// writes the same page, with a fixed set of exchanges, as one file (the
// "dpop demo -html" report).
package inspector
