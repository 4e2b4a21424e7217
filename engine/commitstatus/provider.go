package commitstatus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"samverk.io/samverk/engine/version"
)

// Providers.
const (
	GitHub = "github"
	GitLab = "gitlab"
	None   = "none"
	// Auto picks GitHub or GitLab from the repository URL's host, or none.
	Auto = "auto"
)

// GitHubAPIVersion is the REST API version requested (X-GitHub-Api-Version).
const GitHubAPIVersion = "2022-11-28"

// MaxDescription is the longest description GitHub keeps; longer ones are cut.
const MaxDescription = 140

// States, as GitHub names them; GitLab's are mapped from these.
const (
	Pending = "pending"
	Success = "success"
	Failure = "failure"
	Error   = "error"
)

// Status is one commit status.
type Status struct {
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
}

// provider turns a status into a request to the Git host's API.
type provider interface {
	name() string
	request(ctx context.Context, s *Status) (*http.Request, error)
}

var (
	_ provider = (*github)(nil)
	_ provider = (*gitlab)(nil)
)

// Repo is where statuses go: the provider, its API base URL, and the repository there.
type Repo struct {
	Provider string
	// API is the API's base URL: https://api.github.com, https://<host>/api/v3 for GitHub
	// Enterprise, https://<host>/api/v4 for GitLab.
	API string
	// Path is owner/repo on GitHub, the project's full path (or numeric id) on GitLab.
	Path string
}

// Resolve finds the repository of repoURL (https://, ssh:// or user@host:path) for provider
// (Auto: by host: github.com is GitHub, a host with "gitlab" in its name GitLab). api, when
// set, replaces the API base URL derived from the host; repoPath, when set, the repository's
// path there (for a --repo that is a mirror or a local path). It returns a Repo with Provider
// None when Auto finds neither.
func Resolve(provider, repoURL, api, repoPath string) (Repo, error) {
	host, path, err := splitRepoURL(repoURL)
	if provider == "" {
		provider = Auto
	}
	if provider == None {
		return Repo{Provider: None}, nil
	}
	if repoPath = strings.Trim(repoPath, "/"); repoPath != "" && provider != Auto {
		path, err = repoPath, nil
		if api == "" && provider == GitHub {
			host = "github.com"
		} else if api == "" {
			return Repo{}, errors.New("a repository path without the API URL: give the API URL of " + provider)
		}
	}
	if err != nil {
		if provider == Auto {
			return Repo{Provider: None}, nil
		}
		return Repo{}, err
	}
	if provider == Auto {
		switch {
		case host == "github.com":
			provider = GitHub
		case strings.Contains(host, "gitlab"):
			provider = GitLab
		default:
			return Repo{Provider: None}, nil
		}
	}
	r := Repo{Provider: provider, API: strings.TrimSuffix(api, "/"), Path: path}
	switch provider {
	case GitHub:
		if strings.Count(path, "/") != 1 {
			return Repo{}, fmt.Errorf("repository %q: want owner/repo on GitHub", path)
		}
		if r.API == "" {
			r.API = "https://api.github.com"
			if host != "github.com" {
				r.API = "https://" + host + "/api/v3"
			}
		}
	case GitLab:
		if r.API == "" {
			r.API = "https://" + host + "/api/v4"
		}
	default:
		return Repo{}, fmt.Errorf("commit status provider %q: want github, gitlab, none or auto", provider)
	}
	if u, err := url.Parse(r.API); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Repo{}, fmt.Errorf("API URL %q: want http(s)://host[/path]", api)
	}
	return r, nil
}

// splitRepoURL returns the host and the repository's path (without .git) of a Git URL.
func splitRepoURL(raw string) (host, path string, err error) {
	if u, e := url.Parse(raw); e == nil && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if at := strings.Index(raw, "@"); at >= 0 && strings.Contains(raw[at:], ":") && !strings.Contains(raw[:at], "/") {
		host, path, _ = strings.Cut(raw[at+1:], ":") // user@host:path
	} else {
		return "", "", errors.New("the repository URL names no host (a local path has no commit status API)")
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || path == "" {
		return "", "", fmt.Errorf("repository URL: no host or path")
	}
	return host, path, nil
}

func newProvider(r Repo, token string) (provider, error) {
	switch r.Provider {
	case GitHub:
		return &github{repo: r, token: token}, nil
	case GitLab:
		return &gitlab{repo: r, token: token}, nil
	}
	return nil, fmt.Errorf("commit status provider %q", r.Provider)
}

func postJSON(ctx context.Context, u string, v any) (*http.Request, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "samverk/"+version.Version)
	return req, nil
}

// github posts to the statuses API: POST /repos/{owner}/{repo}/statuses/{sha}.
type github struct {
	repo  Repo
	token string
}

// GitHubBody is what GitHub's statuses API takes.
type GitHubBody struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

func (g *github) name() string { return GitHub }

func (g *github) request(ctx context.Context, s *Status) (*http.Request, error) {
	req, err := postJSON(ctx, g.repo.API+"/repos/"+g.repo.Path+"/statuses/"+url.PathEscape(s.SHA),
		GitHubBody{State: s.State, TargetURL: s.TargetURL, Description: s.Description, Context: s.Context})
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("X-GitHub-Api-Version", GitHubAPIVersion)
	return req, nil
}

// gitlab posts to the commit status API: POST /projects/:id/statuses/:sha.
type gitlab struct {
	repo  Repo
	token string
}

// GitLabBody is what GitLab's commit status API takes.
type GitLabBody struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
}

func (g *gitlab) name() string { return GitLab }

// gitlabState maps a GitHub state to GitLab's (pending, running, success, failed, canceled).
func gitlabState(s string) string {
	switch s {
	case Failure, Error:
		return "failed"
	}
	return s
}

func (g *gitlab) request(ctx context.Context, s *Status) (*http.Request, error) {
	req, err := postJSON(ctx, g.repo.API+"/projects/"+url.PathEscape(g.repo.Path)+"/statuses/"+url.PathEscape(s.SHA),
		GitLabBody{State: gitlabState(s.State), Name: s.Context, Description: s.Description, TargetURL: s.TargetURL})
	if err != nil {
		return nil, err
	}
	req.Header.Set("PRIVATE-TOKEN", g.token)
	return req, nil
}
