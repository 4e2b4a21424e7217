package fleet

import "samverk.io/samverk/engine/desired"

// DesiredOf returns the state device id is served now, or nil when the device is not in this
// replica's memory or nothing is published yet.
func (s *Service) DesiredOf(id string) *desired.State {
	k, ok := parseID(id)
	if !ok {
		return nil
	}
	c, o := s.ix.lookupOverlay(k)
	if c == nil {
		return nil
	}
	if v := s.ix.viewWith(c, o); v != nil {
		return v.state
	}
	return nil
}

// StatesByHash returns every state of the revision served now, by hash.
func (s *Service) StatesByHash() map[string]*desired.State {
	s.ix.mu.Lock()
	defer s.ix.mu.Unlock()
	if s.ix.encoded == nil {
		return nil
	}
	out := make(map[string]*desired.State, len(s.ix.encoded.states))
	for st, sv := range s.ix.encoded.states {
		out[sv.hash] = st
	}
	return out
}
