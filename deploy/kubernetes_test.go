package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/bus"
)

const k8sDir = "kubernetes"

// kustomization is the part of kustomize's Kustomization the directory uses.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
}

// scaledObject is KEDA's ScaledObject (keda.sh/v1alpha1), the fields the
// directory uses.
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// manifests are the directory's documents, decoded strictly into their
// types: a field a type does not have fails the test.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	jobs        []*batchv1.Job
	secrets     map[string]*corev1.Secret
	configMaps  map[string]*corev1.ConfigMap
	services    []*corev1.Service
	scaled      []*scaledObject
	kustomize   *kustomization
}

func decodeStrict(t *testing.T, where string, doc []byte, v any) {
	t.Helper()
	require.NoError(t, yaml.UnmarshalStrict(doc, v), where)
}

func loadManifests(t *testing.T) (*manifests, []string) {
	t.Helper()
	m := &manifests{deployments: map[string]*appsv1.Deployment{}, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var names []string
	for _, path := range files {
		names = append(names, filepath.Base(path))
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(readFile(t, path))))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, path)
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			where := path + " document " + strconv.Itoa(i)
			var tm metav1.TypeMeta
			require.NoError(t, yaml.Unmarshal(doc, &tm), where)
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				var d appsv1.Deployment
				decodeStrict(t, where, doc, &d)
				require.NotContains(t, m.deployments, d.Name, where)
				m.deployments[d.Name] = &d
			case "batch/v1 Job":
				var j batchv1.Job
				decodeStrict(t, where, doc, &j)
				m.jobs = append(m.jobs, &j)
			case "v1 Secret":
				var s corev1.Secret
				decodeStrict(t, where, doc, &s)
				m.secrets[s.Name] = &s
			case "v1 ConfigMap":
				var c corev1.ConfigMap
				decodeStrict(t, where, doc, &c)
				m.configMaps[c.Name] = &c
			case "v1 Service":
				var s corev1.Service
				decodeStrict(t, where, doc, &s)
				m.services = append(m.services, &s)
			case "keda.sh/v1alpha1 ScaledObject":
				var s scaledObject
				decodeStrict(t, where, doc, &s)
				m.scaled = append(m.scaled, &s)
			case "kustomize.config.k8s.io/v1beta1 Kustomization":
				var k kustomization
				decodeStrict(t, where, doc, &k)
				m.kustomize = &k
			default:
				t.Fatalf("%s: unexpected kind %q of %q", where, tm.Kind, tm.APIVersion)
			}
		}
	}
	return m, names
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for line := range strings.Lines(string(doc)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line)
		}
	}
	return out.Bytes()
}

// TestKubernetesManifests checks deploy/kubernetes: every document decodes
// strictly into its Kubernetes type; a Deployment per role runs that role
// with probes on the port importd's metrics listener serves, resources,
// GOMEMLIMIT from the container's memory limit and only the environment
// importd reads; the references between the documents hold; KEDA scales
// each worker on its own consumer.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	m, files := loadManifests(t)
	vars := envVars(t)

	// kubectl apply -k applies every file but the KEDA one, which needs KEDA.
	require.NotNil(t, m.kustomize)
	var want []string
	for _, f := range files {
		if f != "kustomization.yaml" && f != "autoscaling-keda.yaml" {
			want = append(want, f)
		}
	}
	require.ElementsMatch(t, want, m.kustomize.Resources, "kustomization.yaml lists every manifest")

	roles := map[string]string{"ingest": "nats-url-ingest", "resolve": "nats-url-resolve", "import": "nats-url-import", "query": "nats-url-query"}
	require.Len(t, m.deployments, len(roles))
	for role, natsKey := range roles {
		d := m.deployments["importd-"+role]
		require.NotNil(t, d, "a Deployment for %s", role)
		where := "Deployment " + d.Name
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		require.NoError(t, err, where)
		require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s: its selector matches its pods", where)
		require.Equal(t, "importd", d.Spec.Template.Labels["app.kubernetes.io/name"], where)
		pod := d.Spec.Template.Spec
		require.Len(t, pod.Containers, 1, where)
		c := pod.Containers[0]
		require.Equal(t, []string{role}, c.Args, "%s runs its role", where)
		env := checkEnv(t, m, where, c, vars)

		// The probes and the scrape reach the metrics listener.
		metricsPort := containerPort(t, where, c, "metrics")
		_, port, err := net.SplitHostPort(env["IMPORTD_METRICS_ADDR"])
		require.NoError(t, err, "%s: IMPORTD_METRICS_ADDR set", where)
		require.Equal(t, strconv.Itoa(int(metricsPort)), port, "%s: the listener is on the port probed", where)
		for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
			require.NotNil(t, probe, where)
			require.NotNil(t, probe.HTTPGet, where)
			require.Equal(t, path, probe.HTTPGet.Path, where)
			require.Equal(t, intstr.FromString("metrics"), probe.HTTPGet.Port, where)
		}
		require.Equal(t, strconv.Itoa(int(metricsPort)), d.Spec.Template.Annotations["prometheus.io/port"], where)

		// Resources; Go's soft limit follows the container's.
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: CPU request", where)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s: memory request", where)
		require.False(t, c.Resources.Limits.Memory().IsZero(), "%s: memory limit", where)
		require.GreaterOrEqual(t, c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()), 0, "%s: limit at least the request", where)
		gomem := envVar(c, "GOMEMLIMIT")
		require.NotNil(t, gomem, "%s: GOMEMLIMIT", where)
		require.NotNil(t, gomem.ValueFrom, where)
		require.NotNil(t, gomem.ValueFrom.ResourceFieldRef, where)
		require.Equal(t, "limits.memory", gomem.ValueFrom.ResourceFieldRef.Resource, where)
		require.Equal(t, c.Name, gomem.ValueFrom.ResourceFieldRef.ContainerName, where)
		// The downward API gives bytes, which GOMEMLIMIT reads as bytes.
		require.True(t, gomem.ValueFrom.ResourceFieldRef.Divisor.IsZero() || gomem.ValueFrom.ResourceFieldRef.Divisor.Value() == 1, where)

		// Each role is its own NATS user.
		nats := envVar(c, "NATS_URL")
		require.NotNil(t, nats, where)
		require.NotNil(t, nats.ValueFrom, where)
		require.Equal(t, natsKey, nats.ValueFrom.SecretKeyRef.Key, where)

		if role == "query" {
			checkQuery(t, m, d, env)
		}
	}

	require.Len(t, m.jobs, 1)
	job := m.jobs[0]
	require.Equal(t, []string{"migrate"}, job.Spec.Template.Spec.Containers[0].Args)
	require.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}, job.Spec.Template.Spec.RestartPolicy)
	checkEnv(t, m, "Job "+job.Name, job.Spec.Template.Spec.Containers[0], vars)

	// KEDA scales each worker on the lag of its own consumer.
	consumers := map[string][2]string{
		"importd-ingest":  {bus.StreamDeliveries, bus.ConsumerIngest},
		"importd-resolve": {bus.StreamWork, bus.ConsumerResolve},
		"importd-import":  {bus.StreamWork, bus.ConsumerApply},
	}
	require.Len(t, m.scaled, len(consumers))
	known := []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}
	for _, s := range m.scaled {
		where := "ScaledObject " + s.Metadata.Name
		target := s.Spec.ScaleTargetRef
		require.Equal(t, "Deployment", target.Kind, where)
		require.Contains(t, m.deployments, target.Name, where)
		want, ok := consumers[target.Name]
		require.True(t, ok, "%s scales a worker", where)
		require.Len(t, s.Spec.Triggers, 1, where)
		tr := s.Spec.Triggers[0]
		require.Equal(t, "nats-jetstream", tr.Type, where)
		for k := range tr.Metadata {
			require.Contains(t, known, k, "%s: a metadata key of KEDA's nats-jetstream scaler", where)
		}
		require.Equal(t, want[0], tr.Metadata["stream"], where)
		require.Equal(t, want[1], tr.Metadata["consumer"], where)
		_, err := strconv.Atoi(tr.Metadata["lagThreshold"])
		require.NoError(t, err, where)
		require.NotNil(t, s.Spec.MinReplicaCount, where)
		require.GreaterOrEqual(t, *s.Spec.MinReplicaCount, int32(1), "%s: a worker is never scaled to zero (the resolver's sweep, the re-drive)", where)
		delete(consumers, target.Name)
	}
}

// checkQuery checks the query role's HTTP port, its Service and its
// tokens, which api.LoadTokens must read.
func checkQuery(t *testing.T, m *manifests, d *appsv1.Deployment, env map[string]string) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	httpPort := containerPort(t, d.Name, c, "http")
	_, port, err := net.SplitHostPort(env["IMPORTD_HTTP_ADDR"])
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(int(httpPort)), port)

	require.Len(t, m.services, 1)
	svc := m.services[0]
	require.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)), "the Service selects the query pods")
	for _, sp := range svc.Spec.Ports {
		require.Equal(t, intstr.FromString("http"), sp.TargetPort)
	}
	for _, other := range m.deployments {
		if other != d {
			require.False(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(other.Spec.Template.Labels)), "the Service selects %s", other.Name)
		}
	}

	// The tokens file is a mounted key of the tokens Secret.
	file := env["IMPORTD_TOKENS_FILE"]
	require.NotEmpty(t, file)
	var secret *corev1.Secret
	var key string
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(file) != filepath.Clean(vm.MountPath) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				secret, key = m.secrets[v.Secret.SecretName], filepath.Base(file)
			}
		}
	}
	require.NotNil(t, secret, "IMPORTD_TOKENS_FILE %s is in a mounted Secret", file)
	tokens, ok := secret.StringData[key]
	require.True(t, ok, "Secret %s has the key %s", secret.Name, key)
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte(tokens), 0o600))
	_, err = api.LoadTokens(path)
	require.NoError(t, err, "the example tokens are a valid tokens file")
}

// checkEnv checks a container's environment, its own and its ConfigMaps',
// against what importd reads and what the directory defines, and returns
// the plain values.
func checkEnv(t *testing.T, m *manifests, where string, c corev1.Container, vars map[string]bool) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, from := range c.EnvFrom {
		require.NotNil(t, from.ConfigMapRef, "%s: envFrom a ConfigMap", where)
		cm := m.configMaps[from.ConfigMapRef.Name]
		require.NotNil(t, cm, "%s: ConfigMap %s", where, from.ConfigMapRef.Name)
		for k, v := range cm.Data {
			require.True(t, vars[k], "%s: ConfigMap %s sets %s, which importd does not read", where, cm.Name, k)
			values[k] = v
		}
	}
	for _, e := range c.Env {
		require.True(t, vars[e.Name], "%s: %s is not a variable importd reads", where, e.Name)
		switch {
		case e.ValueFrom == nil:
			values[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := m.secrets[ref.Name]
			require.NotNil(t, s, "%s: %s from Secret %s", where, e.Name, ref.Name)
			_, ok := s.StringData[ref.Key]
			require.True(t, ok, "%s: %s from the key %s of Secret %s", where, e.Name, ref.Key, ref.Name)
		case e.ValueFrom.ResourceFieldRef != nil:
		default:
			t.Fatalf("%s: %s from an unexpected source", where, e.Name)
		}
	}
	return values
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func containerPort(t *testing.T, where string, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("%s: no container port named %s", where, name)
	return 0
}
