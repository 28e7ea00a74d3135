package redisstore

// SetUncoalesced makes s send each check in a round trip of its own, so
// that a benchmark can compare it with the default in one run.
func SetUncoalesced(s *Store) { s.uncoalesced = true }
