package githubsim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// call is one REST call on its way through serveAPI: the request, who made
// it, and the answer being built.
type call struct {
	s         *Server
	r         *http.Request
	principal *principal // nil when unauthenticated
	app       *app       // the GitHub App, for JWT-authenticated calls
	status    int
	body      []byte
	header    http.Header
	// reserved is set when a primary rate-limit unit was taken for the call,
	// so that a 304 can give it back.
	reserved bool
	// requestID is sent as X-GitHub-Request-Id and quoted in
	// secondary-limit messages.
	requestID string
}

// errorBody is GitHub's error document. A 422 for invalid fields carries
// errors, each naming a resource, a field and a code ("missing",
// "missing_field", "invalid", "already_exists", "unprocessable", "custom"):
// REST docs "Troubleshooting the REST API" / formerly "Resources in the REST
// API", Client errors; go-github's ErrorResponse.Errors reads them.
type errorBody struct {
	Message          string            `json:"message"`
	Errors           []validationError `json:"errors,omitempty"`
	DocumentationURL string            `json:"documentation_url,omitempty"`
}

type validationError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

const (
	docsREST         = "https://docs.github.com/rest"
	docsRunners      = "https://docs.github.com/rest/actions/self-hosted-runners"
	docsRunnerGroups = "https://docs.github.com/rest/actions/self-hosted-runner-groups"
	docsApps         = "https://docs.github.com/rest/apps/apps"
	docsRateLimit    = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
	// docsSecondary is the documentation_url of today's secondary-limit
	// answers; go-github before v56 only recognises the older
	// docsSecondaryLegacy (google/go-github PR #3001).
	docsSecondary       = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsSecondaryLegacy = "https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits"
)

// maxBodyBytes bounds request bodies, for the API and the control API.
const maxBodyBytes = 1 << 20

func (c *call) json(status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled: this is a programming error.
		panic(fmt.Sprintf("githubsim: marshal %T: %v", v, err))
	}
	c.status = status
	c.body = body
	c.header.Set("Content-Type", "application/json; charset=utf-8")
}

func (c *call) error(status int, message, docs string) {
	c.json(status, errorBody{Message: message, DocumentationURL: docs})
}

// invalid answers 422 "Validation Failed" for one invalid field.
func (c *call) invalid(resource, field, message, docs string) {
	c.json(http.StatusUnprocessableEntity, errorBody{
		Message:          "Validation Failed",
		Errors:           []validationError{{Resource: resource, Field: field, Code: "invalid", Message: message}},
		DocumentationURL: docs,
	})
}

func (c *call) notFound() {
	c.error(http.StatusNotFound, "Not Found", docsREST)
}

func (c *call) noContent() {
	c.status = http.StatusNoContent
	c.body = nil
}

// decode reads the JSON request body into v. On failure it answers the call
// as GitHub does (400 for malformed JSON, 422 for a wrong type) and returns
// false.
func (c *call) decode(v any) bool {
	err := json.NewDecoder(io.LimitReader(c.r.Body, maxBodyBytes)).Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return true
	case errors.As(err, &typeErr):
		c.error(http.StatusUnprocessableEntity,
			fmt.Sprintf("Invalid request.\n\nFor '%s', %s is not a %s.", typeErr.Field, typeErr.Value, typeErr.Type), docsREST)
	default:
		c.error(http.StatusBadRequest, "Problems parsing JSON", docsREST)
	}
	return false
}

// conditional turns a 200 GET into a 304 when the client already holds the
// body (If-None-Match matches its ETag). Every 200 GET carries an ETag.
func (c *call) conditional() {
	if c.status != http.StatusOK || (c.r.Method != http.MethodGet && c.r.Method != http.MethodHead) {
		return
	}
	token, _ := credentials(c.r)
	tag := etag(c.body, token)
	c.header.Set("ETag", tag)
	c.header.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	if etagMatches(c.r.Header.Get("If-None-Match"), tag) {
		c.status = http.StatusNotModified
		c.body = nil
		c.header.Del("Content-Type")
	}
}

// etag is a strong validator: a quoted hash of the body and the calling
// token. GitHub's ETags differ per token (github/docs issue #34689), so a
// client that sends another token's ETag gets 200, not 304. Each token has
// its own, an installation's tokens included: GitHub does not document
// that they share, and since installation tokens rotate hourly a client
// must expect its ETags to stop matching when its token changes.
func etag(body []byte, token string) string {
	h := sha256.New()
	h.Write([]byte(token))
	h.Write([]byte{0})
	h.Write(body)
	sum := h.Sum(nil)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2):
// a W/ prefix is ignored, "*" matches anything.
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// write sends the answer with the headers GitHub puts on every API response.
func (c *call) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range c.header {
		h[k] = v
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	if c.requestID == "" {
		c.requestID = requestID()
	}
	h.Set("X-GitHub-Request-Id", c.requestID)
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	h.Set("Server", "github.com")
	if c.body != nil {
		h.Set("Content-Length", strconv.Itoa(len(c.body)))
	}
	w.WriteHeader(c.status)
	if c.body != nil {
		_, _ = w.Write(c.body)
	}
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(fmt.Sprintf("%X:%X:%X", b[0:2], b[2:5], b[5:8]))
}

// newUUID returns a random (version 4) UUID, as X-GitHub-Delivery carries.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomAlnum returns n random letters and digits, as in GitHub's tokens.
func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
