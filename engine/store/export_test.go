package store

// SetBroadThreshold lowers the number of matches past which a search counts as broad, until
// the returned func restores it.
func SetBroadThreshold(n int) (restore func()) {
	old := broadThreshold
	broadThreshold = n
	return func() { broadThreshold = old }
}

// SetTimelineLimit lowers the number of periods of a kind DeviceTimeline returns, until the
// returned func restores it.
func SetTimelineLimit(n int) (restore func()) {
	old := timelineLimit
	timelineLimit = n
	return func() { timelineLimit = old }
}
