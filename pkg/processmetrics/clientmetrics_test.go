package processmetrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/metrics"
)

func TestClientMetrics(t *testing.T) {
	ctx := context.Background()
	runnerURL := url.URL{
		Scheme: "https", Host: "10.96.0.1:443",
		Path: "/apis/octorun.github.io/v1alpha1/namespaces/{namespace}/runners/{name}",
	}
	tests := []struct {
		name   string
		record func(metrics.RegisterOpts)
		metric string
		want   string
	}{
		{
			name: "requests by code, method and host",
			record: func(o metrics.RegisterOpts) {
				o.RequestResult.Increment(ctx, "200", "GET", "10.96.0.1:443")
				o.RequestResult.Increment(ctx, "200", "GET", "10.96.0.1:443")
				o.RequestResult.Increment(ctx, "<error>", "PATCH", "10.96.0.1:443")
			},
			metric: "rest_client_requests_total",
			want: `
# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="10.96.0.1:443",method="GET"} 2
rest_client_requests_total{code="<error>",host="10.96.0.1:443",method="PATCH"} 1
`,
		},
		{
			name: "request duration by verb and host, not path",
			record: func(o metrics.RegisterOpts) {
				o.RequestLatency.Observe(ctx, "GET", runnerURL, 30*time.Millisecond)
			},
			metric: "rest_client_request_duration_seconds",
			want: `
# HELP rest_client_request_duration_seconds Request latency in seconds. Broken down by verb, and host.
# TYPE rest_client_request_duration_seconds histogram
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="0.005"} 0
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="0.025"} 0
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="0.1"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="0.25"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="0.5"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="1"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="2"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="4"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="8"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="15"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="30"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="60"} 1
rest_client_request_duration_seconds_bucket{host="10.96.0.1:443",verb="GET",le="+Inf"} 1
rest_client_request_duration_seconds_sum{host="10.96.0.1:443",verb="GET"} 0.03
rest_client_request_duration_seconds_count{host="10.96.0.1:443",verb="GET"} 1
`,
		},
		{
			name: "client-side throttling by verb and host",
			record: func(o metrics.RegisterOpts) {
				o.RateLimiterLatency.Observe(ctx, "PUT", runnerURL, 2*time.Second)
			},
			metric: "rest_client_rate_limiter_duration_seconds",
			want: `
# HELP rest_client_rate_limiter_duration_seconds Client side rate limiter latency in seconds. Broken down by verb, and host.
# TYPE rest_client_rate_limiter_duration_seconds histogram
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="0.005"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="0.025"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="0.1"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="0.25"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="0.5"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="1"} 0
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="2"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="4"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="8"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="15"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="30"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="60"} 1
rest_client_rate_limiter_duration_seconds_bucket{host="10.96.0.1:443",verb="PUT",le="+Inf"} 1
rest_client_rate_limiter_duration_seconds_sum{host="10.96.0.1:443",verb="PUT"} 2
rest_client_rate_limiter_duration_seconds_count{host="10.96.0.1:443",verb="PUT"} 1
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newClientMetrics()
			tc.record(m.registerOpts())
			if err := testutil.CollectAndCompare(m, strings.NewReader(tc.want), tc.metric); err != nil {
				t.Error(err)
			}
			problems, err := testutil.CollectAndLint(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		})
	}
}

// TestRegisterClientMetrics sets client-go's process-wide REST client
// metrics, which client-go allows once: no other test may call
// metrics.Register.
func TestRegisterClientMetrics(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterClientMetrics(reg); err != nil {
		t.Fatalf("RegisterClientMetrics: %v", err)
	}
	if err := RegisterClientMetrics(reg); err == nil {
		t.Error("Registering the client metrics twice on one registry did not fail")
	}
	other := prometheus.NewRegistry()
	if err := RegisterClientMetrics(other); err != nil {
		t.Fatalf("RegisterClientMetrics on a second registry: %v", err)
	}

	// A request of a real REST client reaches the metrics through client-go.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	client, err := rest.RESTClientFor(&rest.Config{
		Host: srv.URL,
		ContentConfig: rest.ContentConfig{
			GroupVersion:         &schema.GroupVersion{},
			NegotiatedSerializer: serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion(),
		},
	})
	if err != nil {
		t.Fatalf("RESTClientFor: %v", err)
	}
	if err := client.Get().AbsPath("/healthz").Do(context.Background()).Error(); err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")

	// And so does any other caller of client-go's package variables.
	metrics.RequestResult.Increment(context.Background(), "<error>", "DELETE", "elsewhere:6443")

	want := `
# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="` + host + `",method="GET"} 1
rest_client_requests_total{code="<error>",host="elsewhere:6443",method="DELETE"} 1
`
	for name, g := range map[string]prometheus.Gatherer{"the registry": reg, "the second registry": other} {
		if err := testutil.GatherAndCompare(g, strings.NewReader(want), "rest_client_requests_total"); err != nil {
			t.Errorf("On %s: %v", name, err)
		}
		for _, metric := range []string{"rest_client_request_duration_seconds", "rest_client_rate_limiter_duration_seconds"} {
			if n, err := testutil.GatherAndCount(g, metric); err != nil || n != 1 {
				t.Errorf("On %s, %s has %d series (err %v), want 1 (the GET's)", name, metric, n, err)
			}
		}
	}
}
