// Package access compares the Kubernetes API requests a process makes with
// the RBAC rules Octorun ships: it reads a request as the API server's
// authorizer sees it (verb, API group, resource, subresource, namespace,
// name), records the requests of a process through a proxy in front of the
// API server, and tells which rules of manifests/rbac.yaml and of the runner
// namespaces' RoleBinding allow each one.
package access

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
)

// Request is an API request as RBAC authorizes it.
type Request struct {
	// Verb is RBAC's: get, list, watch, create, update, patch, delete,
	// deletecollection; the lower-case HTTP method of a non-resource
	// request.
	Verb        string
	Group       string
	Resource    string
	Subresource string
	// Namespace is empty for cluster-scoped resources and requests across
	// all namespaces.
	Namespace string
	// Name is empty for create, list and watch, unless a list or watch
	// selects one object by field selector metadata.name.
	Name string
	// Path is the URL path of a non-resource request (/version, /apis),
	// empty for a resource request.
	Path string
}

// IsResource says whether r is a resource request, which RBAC's rules of
// resources govern.
func (r Request) IsResource() bool { return r.Path == "" }

// GroupResource is the resource, with its subresource, as RBAC rules name
// it: "pods", "runners/status".
func (r Request) GroupResource() string {
	if r.Subresource != "" {
		return r.Resource + "/" + r.Subresource
	}
	return r.Resource
}

func (r Request) String() string {
	if !r.IsResource() {
		return r.Verb + " " + r.Path
	}
	group := r.Group
	if group == "" {
		group = "core"
	}
	s := fmt.Sprintf("%s %s %s", r.Verb, group, r.GroupResource())
	switch {
	case r.Namespace != "" && r.Name != "":
		s += " " + r.Namespace + "/" + r.Name
	case r.Namespace != "":
		s += " in " + r.Namespace
	case r.Name != "":
		s += " " + r.Name
	}
	return s
}

// ParseRequest reads an HTTP request to the API server as the API server's
// RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request) does for its
// authorizer; the parts Octorun's clients never use (the deprecated
// /watch/ and /proxy/ path prefixes) are left out.
func ParseRequest(method string, u *url.URL) Request {
	nonResource := Request{Verb: strings.ToLower(method), Path: u.Path}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 3 {
		return nonResource
	}
	var r Request
	switch parts[0] {
	case "api":
		parts = parts[2:] // api, v1
	case "apis":
		if len(parts) < 4 {
			return nonResource // discovery: /apis/<group>/<version>
		}
		r.Group = parts[1]
		parts = parts[3:] // apis, group, version
	default:
		return nonResource
	}
	switch method {
	case "POST":
		r.Verb = "create"
	case "GET", "HEAD":
		r.Verb = "get"
	case "PUT":
		r.Verb = "update"
	case "PATCH":
		r.Verb = "patch"
	case "DELETE":
		r.Verb = "delete"
	}
	// namespaces/<ns>/<resource>/… is a namespaced resource;
	// namespaces/<ns>[/status|/finalize] the namespace itself.
	if parts[0] == "namespaces" && len(parts) > 1 {
		r.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	switch {
	case len(parts) >= 3:
		r.Subresource = parts[2]
		fallthrough
	case len(parts) == 2:
		r.Name = parts[1]
		fallthrough
	default:
		r.Resource = parts[0]
	}
	if r.Name == "" && r.Verb == "get" {
		q := u.Query()
		r.Verb = "list"
		if w := q.Get("watch"); q.Has("watch") && w != "false" && w != "0" {
			r.Verb = "watch"
		}
		if s, err := fields.ParseSelector(q.Get("fieldSelector")); err == nil {
			if name, ok := s.RequiresExactMatch("metadata.name"); ok {
				r.Name = name
			}
		}
	}
	if r.Name == "" && r.Verb == "delete" {
		r.Verb = "deletecollection"
	}
	return r
}
