package source

import (
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// Message returns a commit's message, e.g. for the trailers that allow a change.
func (s *Source) Message(commit plumbing.Hash) (string, error) {
	repo, err := git.PlainOpen(s.opt.Dir)
	if err != nil {
		return "", fmt.Errorf("source: message: %w", err)
	}
	c, err := repo.CommitObject(commit)
	if err != nil {
		return "", fmt.Errorf("source: message of %s: %w", commit, err)
	}
	return c.Message, nil
}
