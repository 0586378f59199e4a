package deploy_test

import (
	"encoding/json"
	"go/ast"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

const obsDir = "observability"

// registeredMetrics returns the names of the series importd exposes on
// /metrics: those of every prometheus.*Opts literal in its code (a
// histogram's _bucket, _sum and _count, a summary's _sum and _count), and
// those of the collectors of the default registry (Go runtime, process).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	goFiles(t, ".", func(path string, file *ast.File) {
		ast.Inspect(file, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := cl.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
				return true
			}
			var name string
			for _, el := range cl.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key := kv.Key.(*ast.Ident).Name
				require.NotContains(t, []string{"Namespace", "Subsystem"}, key,
					"%s: a metric name built from %s: teach registeredMetrics to join it", path, key)
				if key == "Name" {
					var ok bool
					name, ok = stringLit(kv.Value)
					require.True(t, ok, "%s: a metric name that is not a string literal", path)
				}
			}
			require.NotEmpty(t, name, "%s: prometheus.%s without a Name", path, sel.Sel.Name)
			switch sel.Sel.Name {
			case "HistogramOpts":
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			case "SummaryOpts":
				names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
			default:
				names[name] = true
			}
			return true
		})
	})
	fams, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		names[f.GetName()] = true
	}
	// The collector must find what it is for.
	for _, n := range []string{"importd_consumer_pending_messages", "importd_operations_parked",
		"importd_importer_operations_total", "importd_http_request_duration_seconds_bucket", "process_resident_memory_bytes"} {
		require.True(t, names[n], "%s not found among the registered metrics", n)
	}
	return names
}

// apiRoutes returns the route patterns of the query service ("GET
// /v1/imports"), the values of importd_http_request_duration_seconds'
// route label.
func apiRoutes(t *testing.T) map[string]bool {
	t.Helper()
	pattern := regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) /`)
	routes := map[string]bool{}
	goFiles(t, "api", func(_ string, file *ast.File) {
		ast.Inspect(file, func(n ast.Node) bool {
			if e, ok := n.(ast.Expr); ok {
				if s, ok := stringLit(e); ok && pattern.MatchString(s) {
					routes[s] = true
				}
			}
			return true
		})
	})
	require.True(t, routes["GET /import/{receiptId}/status"], "the query service's routes not found")
	return routes
}

// prometheusOwn are the series Prometheus makes itself for every target.
var prometheusOwn = map[string]bool{"up": true}

// checkPromQL parses a PromQL expression and checks that every metric it
// selects is one importd registers, and every route it matches is one the
// query service serves.
func checkPromQL(t *testing.T, where, expr string, metrics, routes map[string]bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, "%s: %s", where, expr)
	selected := 0
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selected++
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
			if m.Name == "route" && m.Type == labels.MatchEqual {
				require.True(t, routes[m.Value], "%s: route %q is not one the query service serves", where, m.Value)
			}
		}
		require.True(t, metrics[name] || prometheusOwn[name], "%s: %q is not a metric importd registers", where, name)
		return nil
	})
	require.NotZero(t, selected, "%s: selects no metric: %s", where, expr)
}

// TestAlertRules checks deploy/observability/rules as promtool check rules
// does (strict YAML, valid PromQL, templates, durations), and that they use
// only metrics importd registers.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	metrics, routes := registeredMetrics(t), apiRoutes(t)
	files, err := filepath.Glob(filepath.Join(obsDir, "rules", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	alerts := map[string]bool{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		require.Empty(t, errs, f)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				where := f + ": " + r.Alert + r.Record
				checkPromQL(t, where, r.Expr, metrics, routes)
				if r.Alert != "" {
					require.NotEmpty(t, r.Labels["severity"], "%s: a severity", where)
					require.NotEmpty(t, r.Annotations["summary"], "%s: a summary", where)
					alerts[r.Alert] = true
				}
			}
		}
	}
	// What the operators asked to be told about.
	for _, a := range []string{"ImportdConsumerLagGrowing", "ImportdDeliveriesStuck", "ImportdWorkStuck", "ImportdOperationsRejected", "ImportdWorkRejected", "ImportdSubmissionsRefused", "ImportdCallbacksGivenUp", "ImportdInputsNotKept"} {
		require.True(t, alerts[a], "alert %s", a)
	}
}

// grafanaVars are the dashboard's variables and the values the test
// parses its queries with.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", "importd")

// TestDashboard checks the Grafana dashboard: valid JSON with unique panel
// ids, every query valid PromQL over metrics importd registers, and the
// panels the operators need.
func TestDashboard(t *testing.T) {
	t.Parallel()
	metrics, routes := registeredMetrics(t), apiRoutes(t)
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(readFile(t, filepath.Join(obsDir, "importd-dashboard.json")), &dash))
	require.NotEmpty(t, dash.UID)
	ids := map[int]bool{}
	used := map[string]bool{}
	leftover := regexp.MustCompile(`\$\w+`)
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		require.NotNil(t, p.Datasource, p.Title)
		require.Equal(t, "prometheus", p.Datasource.Type, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			require.Empty(t, leftover.FindString(expr), "%s: a variable the test does not know in %s", p.Title, tg.Expr)
			checkPromQL(t, "panel "+p.Title, expr, metrics, routes)
			e, _ := parser.NewParser(parser.Options{}).ParseExpr(expr)
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					used[vs.Name] = true
				}
				return nil
			})
		}
	}
	// Throughput per stage, consumer lag, parked, failures by code, the
	// query API's p99.
	for _, m := range []string{"importd_ingest_records_total", "importd_resolver_operations_total", "importd_importer_operations_total",
		"importd_consumer_pending_messages", "importd_operations_parked", "importd_work_rejected_total",
		"importd_http_request_duration_seconds_bucket"} {
		require.True(t, used[m], "the dashboard shows %s", m)
	}
}

// TestPrometheusConfig checks that the observability profile's Prometheus
// loads the rules the tests check and scrapes every role on the metrics
// port.
func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `json:"job_name"`
			DNSSDConfigs []struct {
				Names           []string `json:"names"`
				Type            string   `json:"type"`
				Port            int      `json:"port"`
				RefreshInterval string   `json:"refresh_interval"`
			} `json:"dns_sd_configs"`
			RelabelConfigs []map[string]any `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	require.NoError(t, yaml.UnmarshalStrict(readFile(t, filepath.Join(obsDir, "prometheus.yml")), &cfg))
	require.Equal(t, []string{"/etc/prometheus/rules/*.yml"}, cfg.RuleFiles)
	require.Len(t, cfg.ScrapeConfigs, 1)
	sc := cfg.ScrapeConfigs[0]
	require.Equal(t, "importd", sc.JobName, "the job ImportdDown watches")
	require.Len(t, sc.DNSSDConfigs, 1)
	require.ElementsMatch(t, []string{"ingest", "resolve", "import", "query"}, sc.DNSSDConfigs[0].Names, "every role's compose service")
	require.Equal(t, 9090, sc.DNSSDConfigs[0].Port, "IMPORTD_METRICS_ADDR's default port")
}

// TestComposeFile checks docker-compose.yml: every service has a health
// check (the one-shot migrate excepted), every importd role listens for
// metrics where prometheus.yml scrapes it, and the observability profile
// mounts files that exist.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Profiles    []string          `yaml:"profiles"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Healthcheck *struct {
				Test    []string `yaml:"test"`
				Disable bool     `yaml:"disable"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	require.NoError(t, yamlv3.Unmarshal(readFile(t, filepath.Join(repoRoot, "docker-compose.yml")), &compose))
	var roles []string
	for name, s := range compose.Services {
		require.NotNil(t, s.Healthcheck, "service %s has a health check", name)
		if s.Image == "importd:local" {
			require.Len(t, s.Command, 1, name)
			if s.Command[0] == "migrate" {
				require.True(t, s.Healthcheck.Disable, "migrate runs once")
				continue
			}
			roles = append(roles, name)
			require.Equal(t, []string{"CMD", "/usr/local/bin/importd", "healthcheck"}, s.Healthcheck.Test, name)
			require.Equal(t, ":9090", s.Environment["IMPORTD_METRICS_ADDR"], "%s listens where Prometheus scrapes", name)
		} else {
			require.NotEmpty(t, s.Healthcheck.Test, name)
		}
		for _, v := range s.Volumes {
			if host, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(host, "./") {
				_, err := os.Stat(filepath.Join(repoRoot, host))
				require.NoError(t, err, "service %s mounts %s", name, host)
			}
		}
	}
	require.ElementsMatch(t, []string{"ingest", "resolve", "import", "query"}, roles)
	for _, name := range []string{"prometheus", "grafana"} {
		require.Equal(t, []string{"observability"}, compose.Services[name].Profiles, name)
	}
	require.Contains(t, compose.Services["prometheus"].Volumes, "./deploy/observability/rules:/etc/prometheus/rules:ro", "the rules TestAlertRules checks")
}

// TestMetricsDocumented: docs/operations.md describes every metric importd
// registers.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	doc := string(readFile(t, filepath.Join(repoRoot, "docs", "operations.md")))
	for name := range registeredMetrics(t) {
		if !strings.HasPrefix(name, "importd_") {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			name = strings.TrimSuffix(name, suffix)
		}
		require.Contains(t, doc, "`"+name+"`", "docs/operations.md describes %s", name)
	}
}
