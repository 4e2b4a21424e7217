package atomicfile

// syncDir is a no-op: Windows has no directory fsync, and MoveFileEx already replaced the file.
func syncDir(string) {}
