package githubsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v50/github"
)

func TestEnterpriseRunners(t *testing.T) {
	const secret = "s3cret"
	rc := newReceiver(t, secret)
	sim, ts := newSim(t, Options{WebhookURL: rc.URL, WebhookSecret: secret})
	ctl := func(method, path string, body any, want int) []byte {
		t.Helper()
		return control(t, ts.URL, method, path, body, want)
	}
	ctl("POST", "/enterprises", map[string]any{"name": "acme", "orgs": []string{testOrg, "sister"}}, 201)
	sim.AddRepository("sister", "app")
	sim.AddRepository("outsider", "app")
	base := ts.URL + "/enterprises/acme/actions/runners"

	resp, body := do(t, http.MethodPost, base+"/generate-jitconfig", testToken, jitRequest{Name: "ent-1", RunnerGroupID: 1, Labels: []string{"linux"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("generate-jitconfig = %d %s", resp.StatusCode, body)
	}
	jit := decodeBody[jitResponse](t, body)
	r := mustRunner(t, sim, jit.Runner.GetID())
	if r.Enterprise != "acme" || r.Org != "" || !r.Ephemeral {
		t.Errorf("runner = %+v, want an ephemeral runner of enterprise acme", r)
	}
	resp, body = do(t, http.MethodGet, base+"?name=ent-1", testToken, nil)
	if list := decodeBody[runnersJSON](t, body); resp.StatusCode != 200 || list.TotalCount != 1 || list.Runners[0].Name != "ent-1" {
		t.Errorf("list = %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodGet, ts.URL+"/orgs/"+testOrg+"/actions/runners/"+fmt.Sprint(r.ID), testToken, nil); resp.StatusCode != 404 {
		t.Errorf("enterprise runner via its organization = %d, want 404", resp.StatusCode)
	}
	if resp, body := do(t, http.MethodGet, ts.URL+"/enterprises/acme/actions/runner-groups", testToken, nil); resp.StatusCode != 200 || decodeBody[runnerGroupsJSON](t, body).TotalCount != 1 {
		t.Errorf("runner groups = %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodGet, ts.URL+"/enterprises/nope/actions/runners", testToken, nil); resp.StatusCode != 404 {
		t.Errorf("unknown enterprise = %d, want 404", resp.StatusCode)
	}

	// Jobs of any organization of the enterprise may go to its runners.
	if err := sim.ConnectRunner(r.ID, ""); err != nil {
		t.Fatal(err)
	}
	outside := sim.QueueJob(JobRequest{Owner: "outsider", Repo: "app", Labels: []string{"linux"}})
	inside := sim.QueueJob(JobRequest{Owner: "sister", Repo: "app", Labels: []string{"linux"}})
	if j, _ := sim.Job(outside.ID); j.Status != JobQueued {
		t.Errorf("a job outside the enterprise is %s, want queued", j.Status)
	}
	if j, _ := sim.Job(inside.ID); j.Status != JobInProgress || j.RunnerID != r.ID {
		t.Errorf("a job of the enterprise is %s on %d, want in_progress on %d", j.Status, j.RunnerID, r.ID)
	}
	var withEnterprise, without int
	for _, d := range rc.wait(t, 3) {
		b := d.payload
		var ev struct {
			Enterprise   *enterpriseJSON  `json:"enterprise"`
			Organization organizationJSON `json:"organization"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Organization.Login == "sister" && ev.Enterprise != nil && ev.Enterprise.Slug == "acme":
			withEnterprise++
		case ev.Organization.Login == "outsider" && ev.Enterprise == nil:
			without++
		default:
			t.Errorf("delivery of %s has enterprise %+v", ev.Organization.Login, ev.Enterprise)
		}
	}
	if withEnterprise != 2 || without != 1 {
		t.Errorf("deliveries with the enterprise %d, without %d; want 2 and 1", withEnterprise, without)
	}

	// Deleting: busy refused, idle removed.
	if resp, _ := do(t, http.MethodDelete, base+"/"+fmt.Sprint(r.ID), testToken, nil); resp.StatusCode != 422 {
		t.Errorf("delete busy = %d, want 422", resp.StatusCode)
	}
	idle := decodeBody[jitResponse](t, mustDo(t, http.MethodPost, base+"/generate-jitconfig", jitRequest{Name: "ent-2", RunnerGroupID: 1, Labels: []string{"x"}}, 201))
	if resp, _ := do(t, http.MethodDelete, base+"/"+fmt.Sprint(idle.Runner.GetID()), testToken, nil); resp.StatusCode != 204 {
		t.Errorf("delete idle = %d, want 204", resp.StatusCode)
	}
}

func mustDo(t *testing.T, method, u string, body any, want int) []byte {
	t.Helper()
	resp, b := do(t, method, u, testToken, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, u, resp.StatusCode, b, want)
	}
	return b
}

func TestInstallationBoundaries(t *testing.T) {
	clock := newFakeClock()
	sim, ts := newSim(t, Options{Now: clock.Now})
	key, _ := appKey(t)
	const appID = 42
	sim.AddApp(appID, &key.PublicKey)
	sim.AddEnterprise("acme", testOrg)
	sim.AddRepository("solo", "one")
	sim.AddRepository("solo", "two")
	sim.AddInstallation(appID, 1, testOrg)
	if err := sim.AddRepositoryInstallation(appID, 2, "solo/one"); err != nil {
		t.Fatal(err)
	}
	control(t, ts.URL, "POST", "/installations", map[string]any{"app_id": appID, "installation_id": 3, "enterprise": "acme"}, 201)

	now := clock.Now()
	appJWT := signJWT(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"iss": fmt.Sprint(appID), "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	asApp := func(path string) (int, installationJSON) {
		resp, body := do(t, http.MethodGet, ts.URL+path, "", nil, "Authorization", "Bearer "+appJWT)
		var inst installationJSON
		if resp.StatusCode == 200 {
			inst = decodeBody[installationJSON](t, body)
		}
		return resp.StatusCode, inst
	}
	for _, tt := range []struct {
		path       string
		wantStatus int
		wantID     int64
		wantType   string
	}{
		{"/orgs/octo/installation", 200, 1, "Organization"},
		{"/repos/octo/hello/installation", 200, 1, "Organization"},
		{"/repos/solo/one/installation", 200, 2, "Organization"},
		{"/repos/solo/two/installation", 404, 0, ""},
		{"/orgs/solo/installation", 404, 0, ""},
		{"/enterprises/acme/installation", 200, 3, "Enterprise"},
		{"/enterprises/nope/installation", 404, 0, ""},
	} {
		status, inst := asApp(tt.path)
		if status != tt.wantStatus || inst.ID != tt.wantID || inst.Account.Type != tt.wantType {
			t.Errorf("GET %s = %d %+v, want %d installation %d (%s)", tt.path, status, inst, tt.wantStatus, tt.wantID, tt.wantType)
		}
	}

	token := func(id int64) string {
		resp, body := do(t, http.MethodPost, fmt.Sprintf("%s/app/installations/%d/access_tokens", ts.URL, id), "", nil, "Authorization", "Bearer "+appJWT)
		if resp.StatusCode != 201 {
			t.Fatalf("token for %d: %d %s", id, resp.StatusCode, body)
		}
		tok := decodeBody[github.InstallationToken](t, body)
		return tok.GetToken()
	}
	orgToken, repoToken, entToken := token(1), token(2), token(3)
	got := map[string]int{}
	for _, tt := range []struct{ who, token, path string }{
		{"org", orgToken, "/orgs/octo/actions/runners"},
		{"org", orgToken, "/repos/octo/hello/actions/runners"},
		{"org", orgToken, "/repos/solo/one/actions/runners"},
		{"org", orgToken, "/enterprises/acme/actions/runners"},
		{"repo", repoToken, "/repos/solo/one/actions/runners"},
		{"repo", repoToken, "/repos/solo/two/actions/runners"},
		{"repo", repoToken, "/orgs/solo/actions/runners"},
		{"enterprise", entToken, "/enterprises/acme/actions/runners"},
		{"enterprise", entToken, "/enterprises/acme/actions/runner-groups"},
		{"enterprise", entToken, "/orgs/octo/actions/runners"},
	} {
		resp, body := do(t, http.MethodGet, ts.URL+tt.path, tt.token, nil)
		got[tt.who+" "+tt.path] = resp.StatusCode
		if resp.StatusCode == 403 && decodeBody[errorBody](t, body).Message != notAccessibleMessage {
			t.Errorf("%s: 403 %s", tt.path, body)
		}
	}
	want := map[string]int{
		"org /orgs/octo/actions/runners":        200,
		"org /repos/octo/hello/actions/runners": 200,
		"org /repos/solo/one/actions/runners":   403,
		"org /enterprises/acme/actions/runners": 403,
		"repo /repos/solo/one/actions/runners":  200,
		"repo /repos/solo/two/actions/runners":  403,
		"repo /orgs/solo/actions/runners":       403,
		// Enterprise runner endpoints take no installation token, even
		// of an installation on the enterprise (REST docs).
		"enterprise /enterprises/acme/actions/runners":       403,
		"enterprise /enterprises/acme/actions/runner-groups": 403,
		"enterprise /orgs/octo/actions/runners":              403,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}
