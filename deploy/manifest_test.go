// Package deploy_test checks deploy/sidecar.yaml: it parses strictly into the Kubernetes API types
// (an unknown or misspelt field fails) and its pieces are wired together.
package deploy_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kjournal/kjournal/internal/image"
)

// The sidecar's defaults (sidecar.DefaultHTTPAddr etc.), restated: this test reads the manifest as
// kubectl would, without importing the code.
const (
	defaultSocket        = "/var/run/kjournal/kjournal.sock"
	defaultHTTPAddr      = "127.0.0.1:9095"
	defaultShutdownGrace = 15 * time.Second
)

type manifest struct {
	configMaps  map[string]*corev1.ConfigMap
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
}

func load(t *testing.T) *manifest {
	t.Helper()
	raw, err := os.ReadFile("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{configMaps: map[string]*corev1.ConfigMap{}, deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var name string
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			strict(t, i, doc, &o)
			name, m.configMaps[o.Name] = o.Name, &o
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			strict(t, i, doc, &o)
			name, m.deployments[o.Name] = o.Name, &o
		case "v1 Service":
			var o corev1.Service
			strict(t, i, doc, &o)
			name, m.services[o.Name] = o.Name, &o
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if name == "" {
			t.Fatalf("document %d: %s without a name", i, tm.Kind)
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func strict(t *testing.T, i int, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("document %d does not parse strictly: %v", i, err)
	}
}

// env resolves a container's environment as the kubelet would: envFrom ConfigMaps, then env.
func (m *manifest) env(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", c.Name)
		}
		cm := m.configMaps[ef.ConfigMapRef.Name]
		if cm == nil {
			t.Fatalf("%s: envFrom ConfigMap %q is not in the manifest", c.Name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			out[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := m.configMaps[ref.Name]
			if cm == nil {
				t.Fatalf("%s: env %s: ConfigMap %q is not in the manifest", c.Name, e.Name, ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Fatalf("%s: env %s: ConfigMap %q has no key %q", c.Name, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = v
		default:
			t.Fatalf("%s: env %s: unexpected valueFrom", c.Name, e.Name)
		}
	}
	return out
}

// setting returns the value of a flag given as --name=v or --name v in args (with $(VAR) expanded
// from env), else the environment variable's, else def.
func setting(t *testing.T, args []string, env map[string]string, flagName, envName, def string) string {
	t.Helper()
	expand := func(s string) string {
		return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := env[name]
			if !ok {
				t.Fatalf("args reference $(%s), which the container's env does not define", name)
			}
			return v
		})
	}
	for i, a := range args {
		for _, prefix := range []string{"--" + flagName, "-" + flagName} {
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return expand(v)
			}
			if a == prefix && i+1 < len(args) {
				return expand(args[i+1])
			}
		}
	}
	if v, ok := env[envName]; ok && envName != "" {
		return v
	}
	return def
}

func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	var n int32
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
		t.Fatalf("address %q: port %q", addr, p)
	}
	return n
}

// probePort resolves a probe's port, by number or by the container's port name.
func probePort(t *testing.T, c *corev1.Container, p *corev1.Probe, what string) (int32, string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s: no HTTP %s probe", c.Name, what)
	}
	return containerPort(t, c, p.HTTPGet.Port), p.HTTPGet.Path
}

func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: no port named %q", c.Name, p.StrVal)
	return 0
}

func checkResources(t *testing.T, c *corev1.Container) {
	t.Helper()
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: needs cpu and memory requests and a memory limit: %+v", c.Name, c.Resources)
	}
}

// checkHealth checks that the probes and the container port are those of the HTTP address.
func checkHealth(t *testing.T, c *corev1.Container, addr string) int32 {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
		t.Errorf("%s: HTTP address %q is loopback: the kubelet's probes come in through the pod IP", c.Name, addr)
	}
	want := port(t, addr)
	for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		got, path := probePort(t, c, p, what)
		if got != want {
			t.Errorf("%s: %s probe on port %d, but the HTTP address is %q", c.Name, what, got, addr)
		}
		wantPath := "/readyz"
		if what == "liveness" {
			wantPath = "/healthz"
		}
		if path != wantPath {
			t.Errorf("%s: %s probe on %s, want %s", c.Name, what, path, wantPath)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == want }) {
		t.Errorf("%s: port %d is not a container port", c.Name, want)
	}
	return want
}

// checkService checks that a Service selects the pods of d and targets port want of container c.
func checkService(t *testing.T, m *manifest, name string, d *appsv1.Deployment, c *corev1.Container, want int32) {
	t.Helper()
	s := m.services[name]
	if s == nil {
		t.Fatalf("no Service %s", name)
	}
	if len(s.Spec.Selector) == 0 {
		t.Errorf("Service %s selects nothing", name)
	}
	for k, v := range s.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the pods of %s do not have", name, k, v, d.Name)
		}
	}
	if len(s.Spec.Ports) != 1 || containerPort(t, c, s.Spec.Ports[0].TargetPort) != want {
		t.Errorf("Service %s does not target port %d: %+v", name, want, s.Spec.Ports)
	}
}

func checkSelector(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsMap(d.Spec.Selector)
	if err != nil || len(sel) == 0 {
		t.Fatalf("%s: selector: %v", d.Name, err)
	}
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: the selector's %s=%s is not on the pod template", d.Name, k, v)
		}
	}
}

func TestManifest_AppWithSidecar(t *testing.T) {
	m := load(t)
	d := m.deployments["example-app"]
	if d == nil {
		t.Fatal("no Deployment example-app")
	}
	checkSelector(t, d)
	pod := d.Spec.Template.Spec

	// The sidecar is a native sidecar: an init container that keeps running.
	var sc *corev1.Container
	for i := range pod.InitContainers {
		if c := &pod.InitContainers[i]; len(c.Args) > 0 && c.Args[0] == "sidecar" {
			if sc != nil {
				t.Fatal("two sidecar init containers")
			}
			sc = c
		}
	}
	if sc == nil {
		t.Fatal("no init container runs `kjournal sidecar`")
	}
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("%s: restartPolicy must be Always (a native sidecar)", sc.Name)
	}
	if len(pod.Containers) == 0 {
		t.Fatal("no app container")
	}
	scEnv := m.env(t, sc)
	for _, k := range []string{"KAFKA_BROKERS", "CASSANDRA_HOSTS"} {
		if scEnv[k] == "" {
			t.Errorf("%s: %s is not set", sc.Name, k)
		}
	}

	// The socket: one emptyDir, mounted in the sidecar and in every app container, and the same
	// socket path, inside it, on both sides.
	socket := setting(t, sc.Args, scEnv, "socket", "KJOURNAL_SOCKET", defaultSocket)
	mountOf := func(c *corev1.Container) string {
		for _, vm := range c.VolumeMounts {
			if path.Dir(socket) == path.Clean(vm.MountPath) {
				return vm.Name
			}
		}
		t.Fatalf("%s: nothing is mounted at %s, the socket's directory", c.Name, path.Dir(socket))
		return ""
	}
	vol := mountOf(sc)
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vol })
	if i < 0 || pod.Volumes[i].EmptyDir == nil {
		t.Fatalf("the socket volume %q is not an emptyDir of the pod", vol)
	}
	for j := range pod.Containers {
		app := &pod.Containers[j]
		if got := mountOf(app); got != vol {
			t.Errorf("%s mounts %q at the socket's directory, the sidecar %q", app.Name, got, vol)
		}
		if got := m.env(t, app)["KJOURNAL_SOCKET"]; got != socket {
			t.Errorf("%s: KJOURNAL_SOCKET=%q, the sidecar listens on %q", app.Name, got, socket)
		}
		checkResources(t, app)
	}
	// A socket of mode 0660 is reachable from the app only through the pod's fsGroup.
	if mode := setting(t, sc.Args, scEnv, "socket-mode", "KJOURNAL_SOCKET_MODE", "0660"); mode != "0666" && mode != "0777" && pod.SecurityContext.FSGroup == nil {
		t.Errorf("socket mode %s without a pod fsGroup: the app may not be able to connect", mode)
	}

	// Health: the probes use the sidecar's HTTP port, and the metrics Service targets it.
	addr := setting(t, sc.Args, scEnv, "http-addr", "KJOURNAL_HTTP_ADDR", defaultHTTPAddr)
	p := checkHealth(t, sc, addr)
	checkService(t, m, "example-app-metrics", d, sc, p)
	checkResources(t, sc)

	// The pod's grace covers the sidecar's.
	grace, err := time.ParseDuration(setting(t, sc.Args, scEnv, "shutdown-grace", "KJOURNAL_SHUTDOWN_GRACE", defaultShutdownGrace.String()))
	if err != nil {
		t.Fatal(err)
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= grace+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v does not cover the sidecar's shutdown grace %s", pod.TerminationGracePeriodSeconds, grace)
	}
}

func TestManifest_Replicator(t *testing.T) {
	m := load(t)
	d := m.deployments["kjournal-replicator"]
	if d == nil {
		t.Fatal("no Deployment kjournal-replicator")
	}
	checkSelector(t, d)
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(cs[0].Args) == 0 || cs[0].Args[0] != "replicator" {
		t.Fatalf("the replicator Deployment must run one container `kjournal replicator`: %+v", cs)
	}
	c := &cs[0]
	env := m.env(t, c)
	for _, f := range []string{"kafka-brokers", "cassandra-hosts"} {
		if setting(t, c.Args, env, f, "", "") == "" {
			t.Errorf("%s: --%s is not given", c.Name, f)
		}
	}
	addr := setting(t, c.Args, env, "http-addr", "", "")
	if addr == "" {
		t.Fatalf("%s: no --http-addr", c.Name)
	}
	p := checkHealth(t, c, addr)
	checkService(t, m, "kjournal-replicator-metrics", d, c, p)
	checkResources(t, c)
}

// TestManifest_Strict makes sure the strict parse is strict: a misspelt field fails.
func TestManifest_Strict(t *testing.T) {
	raw, err := os.ReadFile("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(raw, []byte("\n          restartPolicy: Always\n"), []byte("\n          restartPolicy: Always\n          restartPolicyy: Always\n"), 1)
	if bytes.Equal(bad, raw) {
		t.Fatal("the sidecar's restartPolicy line is not where this test expects it")
	}
	doc := regexp.MustCompile(`(?m)^---\s*$`).Split(string(bad), -1)[1]
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(doc), &d); err == nil {
		t.Fatal("UnmarshalStrict accepted an unknown field")
	}
}

// makeVar is the default of a `NAME ?= value` line of the Makefile.
func makeVar(t *testing.T, mk []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)\s*$`).FindSubmatch(mk)
	if m == nil {
		t.Fatalf("the Makefile sets no %s", name)
	}
	return string(m[1])
}

// TestManifest_Image: every kjournal container runs the image `make image` builds, with its tag, as
// its user.
func TestManifest_Image(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	want := makeVar(t, mk, "IMAGE_REPO") + ":" + makeVar(t, mk, "VERSION")
	var uid, gid int64
	if _, err := fmt.Sscanf(image.User, "%d:%d", &uid, &gid); err != nil {
		t.Fatalf("image user %q: %v", image.User, err)
	}
	m := load(t)
	var n int
	for _, d := range m.deployments {
		pod := d.Spec.Template.Spec
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			if len(c.Args) == 0 || c.Args[0] != "sidecar" && c.Args[0] != "replicator" {
				continue
			}
			n++
			if c.Image != want {
				t.Errorf("%s/%s: image %q, the Makefile builds %q", d.Name, c.Name, c.Image, want)
			}
			sc := c.SecurityContext
			if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid || sc.RunAsGroup == nil || *sc.RunAsGroup != gid {
				t.Errorf("%s/%s: runAsUser/runAsGroup are not the image's user %s", d.Name, c.Name, image.User)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d kjournal containers, want the sidecar and the replicator", n)
	}
}
